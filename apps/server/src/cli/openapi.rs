//! `server openapi`: the API's OpenAPI document on standard output, for `just openapi` to
//! write to `docs/openapi.json`.

/// Renders the document (pretty JSON); it depends on the code only, so no settings are read.
pub fn run() -> anyhow::Result<()> {
    let json = crate::openapi::pretty_json()
        .map_err(|e| anyhow::Error::new(e).context("cannot render the OpenAPI document"))?;
    #[allow(clippy::print_stdout, reason = "the document is the command's output")]
    {
        print!("{json}");
    }
    Ok(())
}
