//! `/static/{file}`: the pages' static files, compiled into the binary, each served under a
//! name that carries a hash of its content (`site.3f2a…c1.css`) with a year-long, immutable
//! cache lifetime. A new build with a changed file has a new name, so a browser never mixes an
//! old stylesheet with a new page, and an unchanged file is never fetched twice.
//!
//! Pages link the files through [`stylesheet_url`], [`icon_url`] and [`link_token_url`]; any
//! other name, an old hash included, is 404.

use std::sync::LazyLock;

use actix_web::http::header::{self, CacheControl, CacheDirective};
use actix_web::{HttpResponse, web};
use sha2::{Digest, Sha256};

use crate::http::error::{AppError, ErrorCode};

/// A static file of this build.
struct Asset {
    /// `/static/<stem>.<hash>.<extension>`.
    url: String,
    content_type: &'static str,
    body: &'static [u8],
}

impl Asset {
    fn new(stem: &str, extension: &str, content_type: &'static str, body: &'static [u8]) -> Self {
        let digest = Sha256::digest(body);
        // 64 bits of the hash: enough that two versions of one file never share a name.
        let hash: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        Self { url: format!("/static/{stem}.{hash}.{extension}"), content_type, body }
    }
}

/// Every static file: the stylesheet and the icon of every page, and the script of the
/// mailed-link pages.
static ASSETS: LazyLock<[Asset; 3]> = LazyLock::new(|| {
    [
        Asset::new(
            "site",
            "css",
            "text/css; charset=utf-8",
            include_bytes!("../../static/site.css"),
        ),
        Asset::new(
            "link-token",
            "js",
            "text/javascript; charset=utf-8",
            include_bytes!("../../static/link-token.js"),
        ),
        Asset::new("icon", "svg", "image/svg+xml", include_bytes!("../../static/icon.svg")),
    ]
});

/// The stylesheet's URL.
pub(crate) fn stylesheet_url() -> &'static str {
    &ASSETS[0].url
}

/// The URL of the script that moves a mailed link's token into its form.
pub(crate) fn link_token_url() -> &'static str {
    &ASSETS[1].url
}

/// The URL of the site's icon (linked by every page, so that no browser asks for a
/// `/favicon.ico` that does not exist).
pub(crate) fn icon_url() -> &'static str {
    &ASSETS[2].url
}

/// A year, the longest lifetime caches honour; `immutable` tells browsers not to revalidate.
const YEAR_SECS: u32 = 31_536_000;

/// A static file by its hashed name: 200 with a year-long, immutable, public cache lifetime;
/// 404 for any other name.
#[utoipa::path(
    get,
    path = "/static/{file}",
    tag = "pages",
    params(("file" = String, Path, description = "A file name with its content hash, as the pages link it (`site.<hash>.css`, `link-token.<hash>.js`, `icon.<hash>.svg`); anything else is 404.")),
    responses(
        (status = 200, description = "The file, cached for a year.", content((String = "text/css"), (String = "text/javascript"), (String = "image/svg+xml"))),
        (status = 404, description = "No file of this build has that name (`not_found`).", body = crate::http::error::ErrorBody),
    ),
)]
pub(crate) async fn file(path: web::Path<String>) -> Result<HttpResponse, AppError> {
    let wanted = format!("/static/{}", path.into_inner());
    let asset = ASSETS
        .iter()
        .find(|a| a.url == wanted)
        .ok_or_else(|| AppError::new(ErrorCode::NotFound))?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, asset.content_type))
        .insert_header(CacheControl(vec![
            CacheDirective::Public,
            CacheDirective::MaxAge(YEAR_SECS),
            CacheDirective::Extension("immutable".to_owned(), None),
        ]))
        .body(asset.body))
}
