//! A browser, as far as the pages' tests need one: a cookie jar filled from `Set-Cookie` (by
//! exact name, deleted by `Max-Age=0`), `Sec-Fetch-Site: same-origin` on every request (the
//! test client's default), and `Sec-Fetch-Dest: document` on navigations. It does not follow
//! redirects: the tests look at each answer.

use std::cell::RefCell;
use std::collections::BTreeMap;

use reqwest::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use reqwest::{Method, Response};

use crate::helpers::TestApp;

pub struct Browser<'a> {
    app: &'a TestApp,
    cookies: RefCell<BTreeMap<String, String>>,
}

/// The value of the first `csrf_token` hidden field of a page.
pub fn token_in(page: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = page.find(marker).expect("a csrf_token field") + marker.len();
    page[start..].split('"').next().unwrap().to_owned()
}

impl<'a> Browser<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        Self { app, cookies: RefCell::new(BTreeMap::new()) }
    }

    /// The cookie the browser holds under `name`.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies.borrow().get(name).cloned()
    }

    /// Sets (or, with `None`, drops) a cookie as another party could try to.
    pub fn put_cookie(&self, name: &str, value: Option<&str>) {
        match value {
            Some(v) => self.cookies.borrow_mut().insert(name.to_owned(), v.to_owned()),
            None => self.cookies.borrow_mut().remove(name),
        };
    }

    fn keep(&self, response: &Response) {
        for value in response.headers().get_all(SET_COOKIE) {
            let text = value.to_str().unwrap();
            let (pair, attributes) = text.split_once(';').unwrap_or((text, ""));
            let (name, value) = pair.split_once('=').unwrap();
            let gone = attributes.split(';').any(|a| a.trim().eq_ignore_ascii_case("max-age=0"));
            if gone {
                self.cookies.borrow_mut().remove(name.trim());
            } else {
                self.cookies.borrow_mut().insert(name.trim().to_owned(), value.trim().to_owned());
            }
        }
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let jar = self.cookies.borrow();
        let mut request = self.app.client.request(method, self.app.url(path));
        if !jar.is_empty() {
            let line: Vec<String> = jar.iter().map(|(n, v)| format!("{n}={v}")).collect();
            request = request.header(COOKIE, line.join("; "));
        }
        request
    }

    /// Sends `request`, keeps the cookies it sets.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Response {
        let response = request.send().await.unwrap();
        self.keep(&response);
        response
    }

    /// A GET as a navigation (a link followed, an address typed).
    pub async fn navigate(&self, path: &str) -> Response {
        let request = self
            .request(Method::GET, path)
            .header("sec-fetch-dest", "document")
            .header("sec-fetch-mode", "navigate");
        self.send(request).await
    }

    /// The page at `path` (a navigation), which must answer 200.
    pub async fn page(&self, path: &str) -> String {
        let response = self.navigate(path).await;
        assert_eq!(response.status().as_u16(), 200, "GET {path}");
        response.text().await.unwrap()
    }

    /// Posts `fields` as a form to `path`, as a navigation.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        let request = self
            .request(Method::POST, path)
            .header("sec-fetch-dest", "document")
            .header("sec-fetch-mode", "navigate")
            .header("origin", self.app.address.as_str())
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(fields).unwrap());
        self.send(request).await
    }

    /// Loads `page`, then posts its form at `action` with `fields` and the page's form token.
    pub async fn submit(&self, page: &str, action: &str, fields: &[(&str, &str)]) -> Response {
        let html = self.page(page).await;
        let token = token_in(&html);
        let mut all = vec![("csrf_token", token.as_str())];
        all.extend_from_slice(fields);
        self.post(action, &all).await
    }
}

/// The `Location` of a redirect.
pub fn location(response: &Response) -> &str {
    assert_eq!(response.status().as_u16(), 303, "a redirect");
    response.headers()["location"].to_str().unwrap()
}
