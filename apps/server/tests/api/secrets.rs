//! Settings from the encrypted secrets file reach the running server: its database URL is the
//! one the app connects to, on both backends.

use sec_config::{AppEnv, KeyRing, Layer, MasterKey, SecretsDoc, SecretsFile, Settings, Sources};
use secrecy::{ExposeSecret, SecretString};
use server::startup::Application;

use crate::helpers::{Backend, TestDatabase, cases};

cases!(the_database_url_comes_from_the_secrets_file);

async fn the_database_url_comes_from_the_secrets_file(backend: Backend) {
    let database = TestDatabase::create(backend);
    let dir = tempfile::tempdir().expect("temp dir");
    let ring = KeyRing::new(vec![MasterKey::generate().unwrap()]).unwrap();
    let mut doc = SecretsDoc::new();
    doc.set("database.url", SecretString::from(database.url())).unwrap();
    SecretsFile::for_env(dir.path(), AppEnv::Test).create(&ring, &doc).unwrap();

    let vars = [
        ("APP_ENV", "test".to_owned()),
        ("APP__SERVER__BIND", "127.0.0.1:0".to_owned()),
        ("APP__SERVER__WORKERS", "1".to_owned()),
        ("APP__LOG__DIR", dir.path().join("log").display().to_string()),
        ("APP_MASTER_KEY", ring.newest().encoded().expose_secret().to_owned()),
    ];
    let settings = Settings::load(&Sources::new(dir.path(), vars)).expect("settings load");
    assert!(
        matches!(settings.inspection().layer_of("database.url"), Layer::Secrets(_)),
        "database.url from the secrets file"
    );
    assert_eq!(settings.database().target().backend_name(), backend.name());

    let app = Application::build(&settings).await.expect("application builds");
    let url = app.url();
    let handle = app.handle();
    actix_web::rt::spawn(app.run_until_stopped());
    let response = reqwest::get(format!("{url}/readyz")).await.expect("request sent");
    assert_eq!(response.status().as_u16(), 200);
    handle.stop(false).await;
}
