//! The account pages in a real browser (issue 18): a headless Chromium, driven over WebDriver,
//! does what people do. It signs up, confirms the address from the mailed link, signs in,
//! enrolls TOTP with the secret the page shows, signs out and in again with a code, signs in on
//! a second device (a phone-sized screen, a fresh profile) with a recovery code, ends that
//! session from the first, is refused the admin page, and as an administrator with a second
//! factor disables the account; and someone signs in with the keyboard alone.
//!
//! Each page is saved as `target/e2e/<flow>/NN-step.png`; a console error or a CSP report fails
//! the step, and a failed step leaves its screenshot, HTML and server log beside them
//! (`e2e::browser`). The flow runs on SQLite, and on PostgreSQL too when `TEST_DATABASE_URL` is
//! set. The pages are found by the ids and names of their contract (`form#login`,
//! `input[name=code]`, ...), never by their wording, so that copy can change without breaking
//! the test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use e2e::browser::{Browser, ChromeDriver, Flow, Key, Viewport, panic_message};
use e2e::{
    Database, RunningServer, create_admin, decode_quoted_printable, http_get, http_json, mail_files,
};
use futures_util::FutureExt;

const PASSWORD: &str = "lantern-orchard-hums-at-dusk-73";
const NEW_PASSWORD: &str = "copper-heron-crosses-the-weir-19";
const ADMIN_PASSWORD: &str = "granite-meadow-lantern-sixty-two-owls";

/// Where a sensitive action may first send the browser, to prove the password or code again.
const CONFIRM: &str = "/account/confirm";

/// Upper bound on waiting for mail the server sends on its own; only a guard against hanging.
const MAIL_GUARD: Duration = Duration::from_secs(30);

/// The settings of every server here, over development's defaults: SQLite in the test's folder
/// unless `database_url` names another database, mail written as files to its `var/mail/`
/// (read with `mail_files`).
fn server_vars(database_url: Option<&str>) -> Vec<(&str, &str)> {
    let mut vars = vec![
        ("APP__SERVER__BIND", "127.0.0.1:0"),
        // Every browser here is 127.0.0.1, and the flow signs in more often within a minute
        // than the per-address limit of the sign-in routes lets one address do.
        ("APP__RATE_LIMIT__AUTH_BURST", "1000"),
    ];
    if let Some(url) = database_url {
        vars.push(("DATABASE_URL", url));
    }
    vars
}

/// Someone's account as the test knows it: the password, and once enrolled the authenticator
/// app (the TOTP secret read from the page) and the recovery codes the page showed.
struct Account {
    username: &'static str,
    password: &'static str,
    totp: RefCell<Option<totp_rs::Totp>>,
    /// The last TOTP time step whose code was used.
    last_step: Cell<u64>,
    recovery_codes: RefCell<Vec<String>>,
}

impl Account {
    fn new(username: &'static str, password: &'static str) -> Self {
        Self {
            username,
            password,
            totp: RefCell::new(None),
            last_step: Cell::new(0),
            recovery_codes: RefCell::new(Vec::new()),
        }
    }

    fn email(&self) -> String {
        format!("{}@example.test", self.username)
    }

    /// Sets up the authenticator app with the base32 `secret` shown at enrollment.
    fn enroll(&self, secret: &str) {
        let totp = totp_rs::Builder::new()
            .with_secret(totp_rs::Secret::try_from_base32(secret).unwrap())
            .build()
            .unwrap_or_else(|e| panic!("the page's secret {secret:?} is no TOTP secret: {e}"));
        *self.totp.borrow_mut() = Some(totp);
    }

    /// The code the app shows now, from a time step not used before: the server accepts each
    /// step's code once per account, against the real clock, so when the current step is used
    /// up this waits for the next one (at most 30 s), as a person would.
    async fn code(&self) -> String {
        let totp = self.totp.borrow().clone().expect("an enrolled authenticator");
        loop {
            let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
            let step = now.as_secs() / 30;
            if step > self.last_step.get() {
                self.last_step.set(step);
                return totp.generate(now.as_secs()).to_string();
            }
            let next = Duration::from_secs((step + 1) * 30);
            tokio::time::sleep(next - now + Duration::from_millis(200)).await;
        }
    }

    /// A recovery code not used before.
    fn recovery_code(&self) -> String {
        self.recovery_codes.borrow_mut().pop().expect("a recovery code left")
    }
}

/// What every page of the contract has: a `<main>`, and forms that post, carry the form token
/// and have a submit button, each with an `id` unless it belongs to a table row (the row's
/// session or user names it).
async fn page_contract(b: &Browser) {
    assert!(b.has("main").await, "no <main> on {}", b.url().await);
    let problems = b
        .client()
        .execute(
            "return [...document.forms].flatMap(f => {
                const name = f.id || f.outerHTML.slice(0, 80);
                const p = [];
                if (!f.id && !f.closest('tr')) p.push(`${name}: no id`);
                if (f.method !== 'post') p.push(`${name}: method ${f.method}`);
                if (!f.querySelector('input[type=hidden][name=csrf_token]')) p.push(`${name}: no csrf_token`);
                if (!f.querySelector('button[type=submit]')) p.push(`${name}: no submit button`);
                return p;
            })",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(problems, serde_json::json!([]), "forms off the contract on {}", b.url().await);
}

/// The page is laid out for the 320 px screen (its viewport tag is honoured) and nothing
/// sticks out sideways; a failure names the elements that do.
async fn fits_the_screen(b: &Browser) {
    let layout = b
        .client()
        .execute(
            "const width = document.documentElement.clientWidth;
             const wide = [...document.querySelectorAll('body *')]
                 .filter(e => e.getBoundingClientRect().right > width + 0.5)
                 .map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
                     + (e.className ? '.' + e.className : ''))
                 .slice(0, 8);
             return { width, scroll: document.documentElement.scrollWidth, wide };",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(layout["width"], 320, "the page is not laid out for the phone's width: {layout}");
    assert!(
        layout["scroll"].as_u64() <= Some(320),
        "the page is wider than the phone's screen on {}: {layout}",
        b.url().await
    );
}

/// The path and fragment of the newest link to `page` mailed to the server's file transport
/// under `dir`, waiting for the outbox to send it.
async fn mailed_link(dir: &Path, page: &str) -> String {
    let marker = format!("{page}#token=");
    let deadline = Instant::now() + MAIL_GUARD;
    loop {
        let mails: Vec<String> =
            mail_files(dir).iter().map(|m| decode_quoted_printable(m)).collect();
        if let Some(mail) = mails.iter().rev().find(|m| m.contains(&marker)) {
            let at = mail.find(&marker).unwrap();
            return mail[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || "/#=-_".contains(*c))
                .collect();
        }
        assert!(Instant::now() < deadline, "no mail with a link to {page}: {mails:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Opens a mailed link: the page's script moves the token from the fragment into the form
/// and takes it out of the address bar.
async fn open_mailed_link(b: &Browser, origin: &str, link: &str) {
    b.goto(&format!("{origin}{link}")).await;
    let token = link.split_once("#token=").unwrap().1;
    let field = b.find("input[name=token]").await;
    assert_eq!(field.prop("value").await.unwrap().as_deref(), Some(token), "token not in the form");
    assert_eq!(b.url().await.fragment(), None, "the token is still in the address bar");
    assert!(b.has("main").await);
}

/// Types the account's name and password into the sign-in form shown and sends it.
async fn enter_password(b: &Browser, account: &Account) {
    b.fill("form#login input[name=identifier]", account.username).await;
    b.fill("form#login input[name=password]", account.password).await;
    b.submit("form#login").await;
}

/// Answers the second-factor step of sign-in with `code`.
async fn enter_code(b: &Browser, code: &str) {
    b.wait_for_path("/login/mfa").await;
    page_contract(b).await;
    b.fill("form#mfa input[name=code]", code).await;
    b.submit("form#mfa").await;
}

/// Answers `/account/confirm` with what it asks for (password, code or both); returns the
/// path the server sends the browser back to.
async fn confirm(b: &Browser, account: &Account) -> String {
    page_contract(b).await;
    assert!(b.has("form#confirm").await, "no form#confirm on {}", b.url().await);
    if b.has("form#confirm input[name=password]").await {
        b.fill("form#confirm input[name=password]", account.password).await;
    }
    if b.has("form#confirm input[name=code]").await {
        b.fill("form#confirm input[name=code]", &account.code().await).await;
    }
    b.submit("form#confirm").await;
    let back = b.url().await.path().to_owned();
    assert_ne!(back, CONFIRM, "the confirmation was refused");
    back
}

/// Does `action` as the step `name`. A sensitive action may first lead to `/account/confirm`,
/// answered in the step `name-confirmed`; the server then sends the browser back to the page
/// the confirmation was for, and when that is the page the action started from (a form the
/// server has not taken yet), the step `name-again` does it once more.
async fn sensitive<F, Fut>(flow: &mut Flow, name: &str, b: &Browser, account: &Account, action: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    let (from, asked) = flow
        .step(name, b, async {
            let from = b.url().await.path().to_owned();
            action().await;
            (from, b.url().await.path() == CONFIRM)
        })
        .await;
    if !asked {
        return;
    }
    let back = flow.step(&format!("{name}-confirmed"), b, confirm(b, account)).await;
    if back == from {
        flow.step(&format!("{name}-again"), b, action()).await;
    }
}

/// Enrolls TOTP on `/account/mfa` from the account page: the secret read from the page (as
/// someone types it into an app), the QR code shown, the code confirmed, the recovery codes
/// kept.
async fn enroll_totp(flow: &mut Flow, prefix: &str, b: &Browser, account: &Account) {
    sensitive(flow, &format!("{prefix}-mfa-page"), b, account, move || async move {
        let link = b.find(r#"a[href="/account/mfa"]"#).await;
        b.click_and_wait(&link).await;
    })
    .await;
    sensitive(flow, &format!("{prefix}-mfa-begun"), b, account, move || async move {
        b.wait_for_path("/account/mfa").await;
        page_contract(b).await;
        b.submit("form#mfa-begin").await;
    })
    .await;
    flow.step(&format!("{prefix}-mfa-secret"), b, async {
        page_contract(b).await;
        let secret: String =
            b.text("#totp-secret").await.chars().filter(|c| !c.is_whitespace()).collect();
        account.enroll(&secret);
        assert!(b.has("svg#totp-qr").await, "no QR code");
        let qr = b.find("svg#totp-qr").await.rectangle().await.unwrap();
        assert!(qr.2 >= 100.0 && qr.3 >= 100.0, "a QR code too small to scan: {qr:?}");
        b.fill("form#mfa-confirm input[name=code]", &account.code().await).await;
        b.submit("form#mfa-confirm").await;
    })
    .await;
    flow.step(&format!("{prefix}-mfa-recovery-codes"), b, async {
        page_contract(b).await;
        let mut codes = Vec::new();
        for item in b.find_all("ul#recovery-codes li").await {
            codes.push(item.text().await.unwrap().trim().to_owned());
        }
        assert!(codes.len() >= 8, "recovery codes shown: {codes:?}");
        *account.recovery_codes.borrow_mut() = codes;
    })
    .await;
    flow.step(&format!("{prefix}-mfa-on"), b, async {
        b.goto(&format!("{}/account/mfa", origin_of(b).await)).await;
        page_contract(b).await;
        assert!(b.has("form#mfa-regenerate").await && b.has("form#mfa-off").await);
        assert!(b.has("form#mfa-off input[name=code]").await);
        assert!(!b.has("form#mfa-begin").await, "still offered to begin");
    })
    .await;
}

/// `http://host:port` of the page shown.
async fn origin_of(b: &Browser) -> String {
    b.url().await.origin().ascii_serialization()
}

/// The rows of the session table on `/account`.
async fn session_rows(b: &Browser) -> (usize, usize) {
    let rows = b.find_all("table#sessions tbody tr").await.len();
    let current = b.find_all("table#sessions tbody tr.current").await.len();
    (rows, current)
}

#[tokio::test]
async fn the_account_flow_on_sqlite() {
    account_flow("account-flow-sqlite", None).await;
}

#[tokio::test]
async fn the_account_flow_on_postgresql() {
    let Some(db) = Database::create("the_account_flow_on_postgresql") else { return };
    account_flow("account-flow-postgresql", Some(&db.url)).await;
}

async fn account_flow(name: &str, database_url: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let vars = server_vars(database_url);
    // From the command line before the server starts, as an operator does (the command writes
    // to the audit trail, which a running server holds).
    create_admin(dir.path(), &vars, "root", ADMIN_PASSWORD);
    let mut flow = Flow::new(name, RunningServer::start(dir.path(), &vars));
    let driver = ChromeDriver::start(&flow.dir().join("chromedriver.log"));
    let origin = &flow.origin();
    let ana = &Account::new("ana", PASSWORD);
    let root = &Account::new("root", ADMIN_PASSWORD);

    let desk = &driver.open(Viewport::Desktop).await;
    flow.step("home", desk, async {
        desk.goto(&format!("{origin}/")).await;
        page_contract(desk).await;
        assert!(desk.has(r#"a[href="/login"]"#).await, "no link to sign in");
        assert!(desk.has(r#"a[href="/signup"]"#).await, "no link to sign up");
    })
    .await;
    flow.step("signup-page", desk, async {
        desk.click_and_wait(&desk.find(r#"a[href="/signup"]"#).await).await;
        desk.wait_for_path("/signup").await;
        page_contract(desk).await;
    })
    .await;
    flow.step("signup-refused", desk, async {
        desk.fill("form#signup input[name=username]", ana.username).await;
        desk.fill("form#signup input[name=email]", &ana.email()).await;
        desk.fill("form#signup input[name=password]", "short").await;
        desk.submit("form#signup").await;
        desk.wait_for_path("/signup").await;
        page_contract(desk).await;
        assert!(desk.has("p.field-error#password-error").await, "no error beside the password");
        let kept = desk.find("form#signup input[name=username]").await.prop("value").await;
        assert_eq!(kept.unwrap().as_deref(), Some(ana.username), "the user name was not kept");
    })
    .await;
    flow.step("signed-up", desk, async {
        desk.fill("form#signup input[name=username]", ana.username).await;
        desk.fill("form#signup input[name=email]", &ana.email()).await;
        desk.fill("form#signup input[name=password]", ana.password).await;
        desk.submit("form#signup").await;
        desk.wait_for_path("/login").await;
        page_contract(desk).await;
        assert!(desk.has(r#"div.flash[role="status"]"#).await, "no message after signing up");
    })
    .await;
    let link = mailed_link(dir.path(), "/account/verify-email").await;
    flow.step("verify-email-link", desk, open_mailed_link(desk, origin, &link)).await;
    flow.step("email-verified", desk, async {
        desk.submit(r#"form[action="/account/verify-email"]"#).await;
        desk.wait_for_path("/account/email-verified").await;
    })
    .await;

    flow.step("signed-in", desk, async {
        desk.goto(&format!("{origin}/login")).await;
        page_contract(desk).await;
        enter_password(desk, ana).await;
        desk.wait_for_path("/account").await;
        page_contract(desk).await;
        assert_eq!(desk.text("#account-username").await.trim(), ana.username);
        assert_eq!(session_rows(desk).await, (1, 1), "one session, the current one");
        assert!(desk.has("form#sign-out").await);
        assert!(!desk.has(r#"a[href="/admin/users"]"#).await, "a plain user sees no admin link");
    })
    .await;
    enroll_totp(&mut flow, "ana", desk, ana).await;

    flow.step("signed-out", desk, async {
        desk.goto(&format!("{origin}/account")).await;
        desk.submit("form#sign-out").await;
        desk.wait_for_path("/account/signed-out").await;
        assert!(desk.has("main").await);
    })
    .await;
    flow.step("account-closed-after-sign-out", desk, async {
        desk.goto(&format!("{origin}/account")).await;
        desk.wait_for_path("/login").await;
        page_contract(desk).await;
    })
    .await;
    flow.step("password-then-code-asked", desk, async {
        enter_password(desk, ana).await;
        desk.wait_for_path("/login/mfa").await;
        page_contract(desk).await;
    })
    .await;
    flow.step("signed-in-with-code", desk, async {
        enter_code(desk, &ana.code().await).await;
        desk.wait_for_path("/account").await;
        assert_eq!(session_rows(desk).await, (1, 1));
    })
    .await;

    // A second device: a phone-sized screen with a profile of its own.
    let phone = &driver.open(Viewport::Phone).await;
    flow.step("phone-code-asked", phone, async {
        phone.goto(&format!("{origin}/login")).await;
        fits_the_screen(phone).await;
        enter_password(phone, ana).await;
        phone.wait_for_path("/login/mfa").await;
        fits_the_screen(phone).await;
    })
    .await;
    flow.step("phone-signed-in-with-recovery-code", phone, async {
        enter_code(phone, &ana.recovery_code()).await;
        phone.wait_for_path("/account").await;
        fits_the_screen(phone).await;
        assert_eq!(session_rows(phone).await, (2, 1));
    })
    .await;
    flow.step("two-sessions", desk, async {
        desk.goto(&format!("{origin}/account")).await;
        page_contract(desk).await;
        assert_eq!(session_rows(desk).await, (2, 1), "this session and the phone's");
        assert!(desk.has("form#end-others").await, "no way to sign out everywhere else");
    })
    .await;
    sensitive(&mut flow, "phone-session-ended", desk, ana, move || async move {
        let end = desk.find("table#sessions tbody tr:not(.current) button[type=submit]").await;
        desk.click_and_wait(&end).await;
    })
    .await;
    flow.step("one-session-left", desk, async {
        desk.goto(&format!("{origin}/account")).await;
        assert_eq!(session_rows(desk).await, (1, 1), "the phone's session is gone");
    })
    .await;
    flow.step("phone-signed-out", phone, async {
        phone.goto(&format!("{origin}/account")).await;
        phone.wait_for_path("/login").await;
        fits_the_screen(phone).await;
    })
    .await;
    phone.close().await;

    // The browser shows a page's own error status as a console error: expected here.
    let refused = format!(
        "{origin}/admin/users - Failed to load resource: the server responded with a status of 403"
    );
    flow.step_allowing("admin-page-refused", desk, &[&refused], async {
        desk.goto(&format!("{origin}/admin/users")).await;
        let status = desk
            .client()
            .execute("return performance.getEntriesByType('navigation')[0].responseStatus", vec![])
            .await
            .unwrap();
        assert_eq!(status, 403, "a plain user's answer");
        assert!(desk.has("main").await, "an HTML page");
        assert!(desk.text("main").await.contains("forbidden"), "the error code is shown");
        assert!(!desk.has("table#users").await);
    })
    .await;

    // The administrator, on a browser of their own, adds a second factor (which
    // administration requires) and disables ana's account.
    let office = &driver.open(Viewport::Desktop).await;
    flow.step("admin-signed-in", office, async {
        office.goto(&format!("{origin}/login")).await;
        enter_password(office, root).await;
        office.wait_for_path("/account").await;
        assert_eq!(office.text("#account-username").await.trim(), root.username);
    })
    .await;
    enroll_totp(&mut flow, "admin", office, root).await;
    sensitive(&mut flow, "admin-users", office, root, move || async move {
        office.goto(&format!("{origin}/account")).await;
        let link = office.find(r#"a[href="/admin/users"]"#).await;
        office.click_and_wait(&link).await;
    })
    .await;
    flow.step("admin-user-list", office, async {
        office.wait_for_path("/admin/users").await;
        page_contract(office).await;
        assert!(office.has(r#"table#users tbody tr[data-username="root"]"#).await);
        let ana_row = r#"table#users tbody tr[data-username="ana"]"#;
        assert!(office.has(&format!("{ana_row} form.disable-user")).await);
        assert!(office.has(&format!("{ana_row} form.grant-role select[name=role]")).await);
    })
    .await;
    sensitive(&mut flow, "ana-disabled", office, root, move || async move {
        office.submit(r#"table#users tbody tr[data-username="ana"] form.disable-user"#).await;
    })
    .await;
    flow.step("ana-shown-disabled", office, async {
        office.goto(&format!("{origin}/admin/users")).await;
        let ana_row = r#"table#users tbody tr[data-username="ana"]"#;
        assert!(office.has(&format!("{ana_row} form.enable-user")).await, "not shown disabled");
        assert!(!office.has(&format!("{ana_row} form.disable-user")).await);
    })
    .await;
    office.close().await;
    flow.step("disabled-account-signed-out", desk, async {
        desk.goto(&format!("{origin}/account")).await;
        desk.wait_for_path("/login").await;
    })
    .await;
    flow.step("disabled-account-refused", desk, async {
        enter_password(desk, ana).await;
        desk.wait_for_path("/login").await;
        page_contract(desk).await;
    })
    .await;
    desk.close().await;
    flow.finish().await;
}

/// An account made over the JSON API, for the tests whose subject is not signing up.
fn register(addr: &str, account: &Account) {
    let body = format!(
        r#"{{"username":"{}","email":"{}","password":"{}"}}"#,
        account.username,
        account.email(),
        account.password
    );
    let (status, _, body) = http_json(addr, "POST", "/api/v1/auth/register", &body, &[]);
    assert_eq!(status, 202, "{body}");
}

#[tokio::test]
async fn signing_in_with_the_keyboard_alone() {
    let dir = tempfile::tempdir().unwrap();
    let server = RunningServer::start(dir.path(), &server_vars(None));
    let kim = Account::new("kim", PASSWORD);
    register(&server.addr, &kim);
    let mut flow = Flow::new("keyboard", server);
    let driver = ChromeDriver::start(&flow.dir().join("chromedriver.log"));
    let origin = flow.origin();
    let b = driver.open(Viewport::Desktop).await;

    /// Presses Tab until the field `name` has the focus; every element on the way must be on
    /// the screen and show that it has the focus.
    async fn tab_to(b: &Browser, name: &str) {
        for _ in 0..40 {
            b.press(char::from(Key::Tab)).await;
            let focus = b.focused().await;
            assert!(focus.on_screen, "{} has the focus off the screen", focus.description);
            assert!(focus.indicated, "{} does not show that it has the focus", focus.description);
            if focus.name.as_deref() == Some(name) {
                return;
            }
        }
        panic!("Tab never reaches the field {name}");
    }

    flow.step("login-page", &b, async {
        b.goto(&format!("{origin}/login")).await;
        page_contract(&b).await;
        // From the top of the page, wherever the page put the focus.
        b.client().execute("document.activeElement.blur()", vec![]).await.unwrap();
    })
    .await;
    flow.step("identifier-typed", &b, async {
        tab_to(&b, "identifier").await;
        b.keys(kim.username).await;
    })
    .await;
    flow.step("password-typed", &b, async {
        tab_to(&b, "password").await;
        b.keys(kim.password).await;
    })
    .await;
    flow.step("signed-in-by-enter", &b, async {
        b.leaving(b.press(char::from(Key::Enter))).await;
        b.wait_for_path("/account").await;
        assert_eq!(b.text("#account-username").await.trim(), kim.username);
    })
    .await;
    b.close().await;
    flow.finish().await;
}

#[tokio::test]
async fn mailed_links_open_pages_that_work_on_a_phone() {
    let dir = tempfile::tempdir().unwrap();
    let server = RunningServer::start(dir.path(), &server_vars(None));
    let lee = Account::new("lee", PASSWORD);
    register(&server.addr, &lee);
    let addr = server.addr.clone();
    let mut flow = Flow::new("mailed-links", server);
    let driver = ChromeDriver::start(&flow.dir().join("chromedriver.log"));
    let origin = flow.origin();
    let phone = driver.open(Viewport::Phone).await;

    let link = mailed_link(dir.path(), "/account/verify-email").await;
    flow.step("verify-email-link", &phone, async {
        open_mailed_link(&phone, &origin, &link).await;
        fits_the_screen(&phone).await;
    })
    .await;
    flow.step("email-verified", &phone, async {
        phone.submit(r#"form[action="/account/verify-email"]"#).await;
        phone.wait_for_path("/account/email-verified").await;
        fits_the_screen(&phone).await;
    })
    .await;

    let body = format!(r#"{{"identifier":"{}"}}"#, lee.email());
    let (status, _, body) = http_json(&addr, "POST", "/api/v1/auth/password-reset", &body, &[]);
    assert_eq!(status, 202, "{body}");
    let link = mailed_link(dir.path(), "/account/reset-password").await;
    flow.step("reset-password-link", &phone, async {
        open_mailed_link(&phone, &origin, &link).await;
        fits_the_screen(&phone).await;
    })
    .await;
    flow.step("password-reset", &phone, async {
        phone.fill("input[name=new_password]", NEW_PASSWORD).await;
        phone.submit(r#"form[action="/account/reset-password"]"#).await;
        phone.wait_for_path("/account/password-reset").await;
        fits_the_screen(&phone).await;
    })
    .await;
    let body = format!(r#"{{"identifier":"{}","password":"{NEW_PASSWORD}"}}"#, lee.username);
    let (status, _, _) = http_json(&addr, "POST", "/api/v1/auth/login", &body, &[]);
    assert_eq!(status, 200, "the new password works");

    flow.step("signed-out-page", &phone, async {
        phone.goto(&format!("{origin}/account/signed-out")).await;
        assert!(phone.has("main").await);
        fits_the_screen(&phone).await;
    })
    .await;
    phone.close().await;
    flow.finish().await;
}

#[tokio::test]
async fn the_pages_name_an_icon_the_server_serves() {
    // A browser asks every site for an icon: the one a page names, else `/favicon.ico`. A 404
    // there is a console error on every first visit, at no fixed time after the page loads; the
    // steps would catch it by chance, so it is checked here, by the answer.
    let dir = tempfile::tempdir().unwrap();
    let server = RunningServer::start(dir.path(), &server_vars(None));
    let addr = server.addr.clone();
    let mut flow = Flow::new("icon", server);
    let driver = ChromeDriver::start(&flow.dir().join("chromedriver.log"));
    let origin = flow.origin();
    let b = &driver.open(Viewport::Desktop).await;
    let icon = flow
        .step("page-with-icon", b, async {
            b.goto(&format!("{origin}/account/signed-out")).await;
            let script = "const link = document.querySelector('link[rel~=icon]');
                          return link ? link.href : location.origin + '/favicon.ico'";
            b.client().execute(script, vec![]).await.unwrap().as_str().unwrap().to_owned()
        })
        .await;
    b.close().await;
    let path =
        icon.strip_prefix(&origin).unwrap_or_else(|| panic!("an icon from elsewhere: {icon}"));
    let (status, _) = http_get(&addr, path);
    assert_eq!(
        status, 200,
        "the pages' icon {path} answers {status}: every first visit logs that as a console error \
         (name a static icon with <link rel=\"icon\"> in the layout, or serve /favicon.ico)"
    );
}

/// Makes the page shown load an image from another origin, which the page policy
/// (`default-src 'self'`) refuses; returns once the browser has given up on it.
async fn break_the_page_policy(b: &Browser) {
    b.client()
        .execute_async(
            "const done = arguments[arguments.length - 1];
             const image = new Image();
             image.onerror = () => done();
             image.src = 'http://127.0.0.2:9/e2e.png';
             document.body.append(image);",
            vec![],
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn the_console_check_fails_a_step_on_a_script_error_or_a_csp_violation() {
    let dir = tempfile::tempdir().unwrap();
    let mut flow = Flow::new("console-check", RunningServer::start(dir.path(), &server_vars(None)));
    let driver = ChromeDriver::start(&flow.dir().join("chromedriver.log"));
    let origin = flow.origin();
    let b = &driver.open(Viewport::Desktop).await;
    flow.step("clean-page", b, b.goto(&format!("{origin}/account/signed-out"))).await;

    // An error a page's script logs, and one it throws (logged before the next task runs).
    b.client()
        .execute_async(
            "const done = arguments[arguments.length - 1];
             console.error('e2e: logged on purpose');
             setTimeout(() => { throw new Error('e2e: thrown on purpose') });
             setTimeout(() => done(), 50);",
            vec![],
        )
        .await
        .unwrap();
    let errors = b.console_errors().await;
    assert!(errors.iter().any(|e| e.contains("logged on purpose")), "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("thrown on purpose")), "{errors:?}");
    assert!(b.console_errors().await.is_empty(), "each entry is read once");

    // A step whose page breaks the policy fails, names itself and leaves its page behind.
    let failed = AssertUnwindSafe(flow.step("csp-violation", b, break_the_page_policy(b)))
        .catch_unwind()
        .await;
    let message =
        panic_message(failed.expect_err("the step passed despite the violation").as_ref());
    assert!(message.contains("step 02-csp-violation failed"), "{message}");
    assert!(message.contains("Content Security Policy"), "{message}");
    assert!(flow.dir().join("02-csp-violation-failed.png").is_file(), "no screenshot");
    assert!(flow.dir().join("02-csp-violation-failed.html").is_file(), "no HTML");
    b.close().await;
}

#[tokio::test]
async fn a_csp_violation_report_fails_the_next_step() {
    let dir = tempfile::tempdir().unwrap();
    let mut flow = Flow::new("csp-report", RunningServer::start(dir.path(), &server_vars(None)));
    let driver = ChromeDriver::start(&flow.dir().join("chromedriver.log"));
    let origin = flow.origin();
    let b = &driver.open(Viewport::Desktop).await;
    flow.step("clean-page", b, b.goto(&format!("{origin}/account/signed-out"))).await;
    break_the_page_policy(b).await;
    // Its console error is not this test's subject: the report the browser sends is.
    assert!(!b.console_errors().await.is_empty());
    let deadline = Instant::now() + Duration::from_secs(20);
    while !flow.server().output().iter().any(|l| l.contains("csp violation")) {
        assert!(Instant::now() < deadline, "the server logged no CSP violation report");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let failed = AssertUnwindSafe(flow.step("after-the-report", b, async {})).catch_unwind().await;
    let message = panic_message(failed.expect_err("the step passed despite the report").as_ref());
    assert!(message.contains("step 02-after-the-report failed"), "{message}");
    assert!(message.contains("CSP violation reports"), "{message}");
    b.close().await;
}
