# Thin recipes over cargo; `just --list` shows them. Nothing here is required: every recipe
# is one or two cargo commands you can run by hand.

# PostgreSQL URL the tests may create databases on (override: just pg_url=... test-pg)
pg_url := "postgres://postgres@127.0.0.1:5432/postgres"

# Start the server in development mode (SQLite under ./var, http://127.0.0.1:8080)
run:
    cargo run

# Apply database migrations to the configured database
migrate:
    cargo run -- migrate

# Run every test (PostgreSQL cases are ignored unless TEST_DATABASE_URL is set)
test:
    cargo test --workspace

# Run every test, PostgreSQL cases included
test-pg:
    TEST_DATABASE_URL={{pg_url}} cargo test --workspace

# Only the browser tests: headless Chromium over WebDriver (Debian's chromium and chromium-driver
# must be installed; .ci/run installs them). Every page is saved under target/e2e/<flow>/
e2e:
    cargo build -p server
    cargo test -p e2e --test browser

# Formatting and lints, as CI runs them
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# Format the code
fmt:
    cargo fmt --all

# Criterion benchmarks (see docs/performance.md)
bench:
    cargo bench --workspace

# The HTTP benchmark (wrk on loopback): bare actix-web vs /healthz and /api/v1/me, login
# throughput vs the hashing bound, /me during a login flood, peak RSS; SQLite and PostgreSQL
# at pg_url. Writes target/bench/report.md (with goals) and report.svg; under three minutes
bench-http:
    BENCH_DATABASE_URL={{pg_url}} scripts/bench-http.sh

# Peak memory under login and registration floods, against the bound in docs/performance.md
bench-memory:
    BENCH_DATABASE_URL={{pg_url}} scripts/bench-memory.sh

# Run the deploy rules (SEC-C…) against the current environment without starting the server
self-check:
    cargo run -- check --deploy

# Validate the deploy manifests offline: Dockerfile, compose, Kubernetes, systemd (docs/deploy.md)
deploy-check:
    scripts/deploy-check.sh

# Regenerate docs/openapi.json from the handlers (a test fails while it is stale)
openapi:
    cargo run -q -- openapi > docs/openapi.json

# Offline advisory audit and license/ban/source checks
audit:
    cargo audit --no-fetch --stale --db ../shared/advisory-db
    cargo deny check licenses bans sources

# Everything CI runs
ci:
    bash .ci/run
