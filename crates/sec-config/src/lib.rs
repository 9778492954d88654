//! Typed layered settings, encrypted secrets and start-up checks.
