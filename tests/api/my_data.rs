//! The "My data" page as a browser without JavaScript meets it: plain forms, redirects
//! after every post, cookies. A small cookie-keeping client stands in for the browser.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, SET_COOKIE};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::helpers::{fixture_login, Login, TestApp};
use crate::stand_in::RocketChatStandIn;
use crate::two_factor::{dump_with_second_factors, BOB_BACKUP};
use udd::adapters::SqliteUserDataFiles;
use udd::api::settings::AuthMode;
use udd::ports::UserDataFiles;

const REQUESTED: &str =
    "Your data file will be generated. A link to download it will be sent to your email.";
const UNDER_WAY: &str =
    "Your data file is already being generated. A link to download it will be sent to your email.";
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// One answer: status, headers, body.
pub struct Page {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// The value of the first `csrf` field.
    pub fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let at = self.body.find(marker).expect("a csrf field") + marker.len();
        self.body[at..].split('"').next().unwrap().to_owned()
    }

    /// The `Set-Cookie` line for `name`.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(str::to_owned)
    }
}

/// A browser with JavaScript off: keeps cookies, follows nothing by itself, and sends
/// `Origin` with its posts as browsers do.
pub struct Visitor {
    base: String,
    client: reqwest::Client,
    pub cookies: BTreeMap<String, String>,
    pub origin: Option<String>,
    pub language: Option<String>,
}

impl Visitor {
    pub fn new(app: &TestApp) -> Self {
        Self {
            base: app.address.clone(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: BTreeMap::new(),
            origin: Some(app.address.clone()),
            language: None,
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Page {
        let mut request = request.header("Cookie", self.cookie_header());
        if let Some(language) = &self.language {
            request = request.header("Accept-Language", language);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        for line in headers.get_all(SET_COOKIE).iter() {
            let line = line.to_str().unwrap();
            let (pair, attributes) = line.split_once(';').unwrap_or((line, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if attributes.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        let body = response.text().await.unwrap_or_default();
        Page {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let url = format!("{}{path}", self.base);
        let request = self.client.get(url);
        self.send(request).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let url = format!("{}{path}", self.base);
        let mut request = self.client.post(url).form(form);
        if let Some(origin) = &self.origin {
            request = request.header("Origin", origin);
        }
        self.send(request).await
    }

    /// Posts and, on a redirect, loads the page it points to.
    pub async fn submit(&mut self, path: &str, form: &[(&str, &str)]) -> (Page, Page) {
        let posted = self.post(path, form).await;
        assert_eq!(posted.status, 303, "{}", posted.body);
        let location = posted.location().to_owned();
        let page = self.get(&location).await;
        (posted, page)
    }

    /// Posts the sign-in form with `login`, `password` and the form token `csrf`.
    pub async fn post_sign_in(&mut self, login: &str, password: &str, csrf: &str) -> Page {
        let form = [("login", login), ("password", password), ("csrf", csrf)];
        self.post("/account/data/login", &form).await
    }

    pub async fn sign_in(&mut self, login: &str, password: &str) -> Page {
        let form = self.get("/").await;
        let csrf = form.csrf();
        let (_, page) = self
            .submit(
                "/account/data/login",
                &[("login", login), ("password", password), ("csrf", &csrf)],
            )
            .await;
        assert!(
            page.body.contains("data-status="),
            "signed in: {}",
            page.body
        );
        page
    }

    pub fn login(&self) -> Login {
        Login {
            user_id: self.cookies["rc_uid"].clone(),
            token: self.cookies["rc_token"].clone(),
        }
    }
}

async fn app_with_fixture(workers: bool) -> TestApp {
    let mut builder = TestApp::builder();
    if workers {
        builder = builder.with_workers();
    }
    let app = builder.spawn_with_sample().await;
    app
}

/// The `<article>` of one kind of export on a page.
fn export_card<'a>(page: &'a str, kind: &str) -> Option<&'a str> {
    let start = page.find(&format!("id=\"export-{kind}\""))?;
    let end = page[start..].find("</article>")? + start;
    Some(&page[start..end])
}

#[tokio::test]
async fn signed_out_the_page_offers_the_sign_in_form_and_no_data() {
    let app = app_with_fixture(false).await;
    let mut visitor = Visitor::new(&app);
    for path in ["/", "/account/data"] {
        let page = visitor.get(path).await;
        assert_eq!(page.status, 200);
        assert_eq!(page.headers["content-security-policy"], CSP);
        assert_eq!(page.headers["cache-control"], "no-store");
        assert!(page.body.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"));
        assert!(page.body.contains("name=\"viewport\""));
        assert!(page
            .body
            .contains("<label for=\"login\">Username or e-mail address</label>"));
        assert!(page
            .body
            .contains("<label for=\"password\">Password</label>"));
        assert!(page.body.contains("action=\"/account/data/login\""));
        assert!(
            !page.body.contains("Your exports"),
            "no data when signed out"
        );
        assert!(!page.body.contains("Export my data (JSON)"));
        assert!(!page.body.contains("<script>") && !page.body.contains("style="));
    }
    let cookie = Visitor::new(&app)
        .get("/")
        .await
        .set_cookie("udd_form")
        .unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );

    let status = visitor.get("/account/data/status").await;
    assert_eq!(status.status, 401);
    assert_eq!(
        serde_json::from_str::<Value>(&status.body).unwrap()["message"],
        "You must be logged in to do this."
    );
    let script = visitor.get("/account/data/app.js").await;
    assert_eq!(script.status, 200);
    assert!(script.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
    assert!(script.body.contains("/status") || script.body.contains("data-status"));
    let style = visitor.get("/account/data/style.css").await;
    assert!(style.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/css"));
    assert!(style.body.contains("prefers-color-scheme: dark"));
}

#[tokio::test]
async fn with_javascript_off_a_user_signs_in_asks_watches_and_downloads() {
    let app = app_with_fixture(true).await;
    let mut visitor = Visitor::new(&app);
    let form = visitor.get("/").await;
    let csrf = form.csrf();
    let posted = visitor.post_sign_in("alice", "alice-pass-0", &csrf).await;
    assert_eq!(posted.status, 303);
    assert_eq!(posted.location(), "/account/data");
    for name in ["rc_uid", "rc_token"] {
        let cookie = posted.set_cookie(name).unwrap();
        // Kept for as long as the token works (the fixture's 36,500 days), like
        // Rocket.Chat's.
        for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=3153600000"] {
            assert!(cookie.contains(attribute), "{cookie}");
        }
        assert!(!cookie.contains("Secure"), "the site is http: {cookie}");
    }
    assert_eq!(visitor.cookies["rc_uid"], fixture_login("alice").user_id);

    let page = visitor.get("/account/data").await;
    assert!(page.body.contains("Signed in as"));
    assert!(page.body.contains("Download my data (HTML)"));
    assert!(page.body.contains("Export my data (JSON)"));
    assert!(page.body.contains("You have not asked for your data yet."));

    let csrf = page.csrf();
    let (posted, page) = visitor
        .submit(
            "/account/data/request",
            &[("kind", "json"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(posted.location(), "/account/data?done=requested&kind=json");
    assert!(page.body.contains(REQUESTED), "{}", page.body);
    assert!(export_card(&page.body, "json").is_some());

    // Reloading, as a person without JavaScript does, until the export is ready.
    let started = Instant::now();
    let card = loop {
        let page = visitor.get("/account/data").await;
        let card = export_card(&page.body, "json").unwrap().to_owned();
        if card.contains("data-status=\"completed\"") {
            break card;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{card}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(card.contains("value=\"100\""), "{card}");
    assert!(card.contains("Available until"), "{card}");
    let marker = "id=\"download-json\" href=\"";
    let at = card.find(marker).unwrap() + marker.len();
    let href = card[at..].split('"').next().unwrap().to_owned();
    assert!(href.starts_with("/data-export/"), "{href}");

    let download = visitor
        .client
        .get(format!("{}{href}", app.address))
        .header("Cookie", visitor.cookie_header())
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), 200);
    let bytes = download.bytes().await.unwrap();
    let file_id = href.trim_start_matches("/data-export/");
    let file = SqliteUserDataFiles::new(app.database.clone())
        .get(&file_id.into())
        .unwrap();
    assert_eq!(hex::encode(Sha256::digest(&bytes)), file.sha256);
    assert!(card.contains(&file.name));

    // The JSON the script polls tells the same.
    let status: Value =
        serde_json::from_str(&visitor.get("/account/data/status").await.body).unwrap();
    assert_eq!(status["active"], false);
    assert_eq!(status["exports"][0]["status"], "completed");
    assert_eq!(status["exports"][0]["percent"], 100);
    assert_eq!(status["exports"][0]["url"], href);

    // Asking again the same day: the ready one answers, with when a new one may come.
    let csrf = visitor.get("/account/data").await.csrf();
    let (posted, page) = visitor
        .submit(
            "/account/data/request",
            &[("kind", "json"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(posted.location(), "/account/data?done=existed&kind=json");
    assert!(page.body.contains(
        "Your data file was already generated. Check your email account for the download link."
    ));
    assert!(page.body.contains("You can ask for a new one after"));
}

#[tokio::test]
async fn a_second_request_inside_a_day_says_the_export_is_under_way_and_until_when() {
    let app = app_with_fixture(false).await;
    let mut visitor = Visitor::new(&app);
    let page = visitor.sign_in("alice@example.com", "alice-pass-0").await;
    let csrf = page.csrf();
    let (_, first) = visitor
        .submit(
            "/account/data/request",
            &[("kind", "html"), ("csrf", &csrf)],
        )
        .await;
    assert!(first.body.contains(REQUESTED));
    let card = export_card(&first.body, "html").unwrap();
    assert!(card.contains("Waiting in the queue"), "{card}");
    assert!(card.contains("value=\"0\""), "{card}");

    let (posted, second) = visitor
        .submit(
            "/account/data/request",
            &[("kind", "html"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(posted.location(), "/account/data?done=existed&kind=html");
    assert!(second.body.contains(UNDER_WAY), "{}", second.body);
    let (_, body) = app.request_download(&visitor.login(), None).await;
    let created: chrono::DateTime<chrono::Utc> = body["exportOperation"]["createdAt"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let next = (created + chrono::Duration::hours(24)).format("%Y-%m-%d %H:%M UTC");
    assert!(
        second
            .body
            .contains(&format!("You can ask for a new one after {next}.")),
        "{}",
        second.body
    );
    assert_eq!(body["requested"], false, "still one operation");
}

#[tokio::test]
async fn a_wrong_password_is_said_on_the_form_and_opens_no_session() {
    let app = app_with_fixture(false).await;
    let mut visitor = Visitor::new(&app);
    let csrf = visitor.get("/").await.csrf();
    let page = visitor.post_sign_in("alice", "not-it", &csrf).await;
    assert_eq!(page.status, 401);
    assert!(
        page.body.contains("Wrong username or password."),
        "{}",
        page.body
    );
    assert!(page.body.contains("role=\"alert\""));
    assert!(
        page.body.contains("value=\"alice\""),
        "the name stays typed in"
    );
    assert!(
        !page.body.contains("not-it"),
        "the password is not sent back"
    );
    assert!(page.set_cookie("rc_token").is_none());
    assert!(!visitor.cookies.contains_key("rc_token"));
    assert!(!visitor.get("/").await.body.contains("Signed in as"));
}

#[tokio::test]
async fn forms_without_their_token_or_from_another_site_are_refused() {
    let app = app_with_fixture(false).await;
    let mut visitor = Visitor::new(&app);
    let csrf = visitor.get("/").await.csrf();
    let credentials = [("login", "alice"), ("password", "alice-pass-0")];

    let missing = visitor.post("/account/data/login", &credentials).await;
    assert_eq!(missing.status, 403);
    assert!(
        missing.body.contains("This form has expired"),
        "{}",
        missing.body
    );
    let wrong = visitor
        .post(
            "/account/data/login",
            &[credentials[0], credentials[1], ("csrf", "forged")],
        )
        .await;
    assert_eq!(wrong.status, 403);
    visitor.origin = Some("http://evil.example".into());
    let elsewhere = visitor
        .post(
            "/account/data/login",
            &[credentials[0], credentials[1], ("csrf", &csrf)],
        )
        .await;
    assert_eq!(elsewhere.status, 403, "a genuine token from another origin");
    assert!(!visitor.cookies.contains_key("rc_token"));

    // A token taken from someone else's (signed-out) page does not fit this visitor.
    let mut other = Visitor::new(&app);
    let foreign = other.get("/").await.csrf();
    visitor.origin = Some(app.address.clone());
    let page = visitor
        .post(
            "/account/data/login",
            &[credentials[0], credentials[1], ("csrf", &foreign)],
        )
        .await;
    assert_eq!(page.status, 403);

    // Signed in: the request and the sign-out need the session's token.
    visitor.sign_in("alice", "alice-pass-0").await;
    let refused = visitor
        .post(
            "/account/data/request",
            &[("kind", "json"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(refused.status, 403);
    assert!(refused.body.contains("This form has expired"));
    assert!(
        refused
            .body
            .contains("You have not asked for your data yet."),
        "nothing queued"
    );
    visitor.origin = Some("http://evil.example".into());
    let session_csrf = visitor.get("/account/data").await.csrf();
    let refused = visitor
        .post(
            "/account/data/request",
            &[("kind", "json"), ("csrf", &session_csrf)],
        )
        .await;
    assert_eq!(refused.status, 403);
    let refused = visitor
        .post("/account/data/logout", &[("csrf", &session_csrf)])
        .await;
    assert_eq!(refused.status, 403);
    assert!(
        visitor.get("/").await.body.contains("Signed in as"),
        "still signed in"
    );
    let (_, body) = app.request_download(&visitor.login(), Some("true")).await;
    assert_eq!(body["requested"], true, "no refused form queued an export");
}

#[tokio::test]
async fn signing_out_deletes_the_login_token_and_the_cookies() {
    let app = app_with_fixture(false).await;
    let mut visitor = Visitor::new(&app);
    let page = visitor.sign_in("alice", "alice-pass-0").await;
    let login = visitor.login();
    assert_eq!(app.get_as(&login, "/api/v1/me").await.status(), 200);
    let (posted, page) = visitor
        .submit("/account/data/logout", &[("csrf", &page.csrf())])
        .await;
    for name in ["rc_uid", "rc_token"] {
        let cookie = posted.set_cookie(name).unwrap();
        assert!(cookie.contains("Max-Age=0"), "{cookie}");
    }
    assert!(!visitor.cookies.contains_key("rc_token"));
    assert!(page.body.contains("You have been signed out."));
    assert!(page.body.contains("name=\"password\""));
    assert_eq!(
        app.get_as(&login, "/api/v1/me").await.status(),
        401,
        "token deleted"
    );
}

#[tokio::test]
async fn a_totp_user_is_asked_for_the_code_on_the_page() {
    let app = TestApp::builder().spawn().await;
    app.import(dump_with_second_factors().path());
    let mut visitor = Visitor::new(&app);
    let csrf = visitor.get("/").await.csrf();
    let page = visitor.post_sign_in("bob", "bob-pass-1", &csrf).await;
    assert_eq!(page.status, 401);
    assert!(
        page.body.contains("Enter your authentication code."),
        "{}",
        page.body
    );
    assert!(page
        .body
        .contains("<label for=\"code\">Authentication code</label>"));
    assert!(!visitor.cookies.contains_key("rc_token"));

    let password = {
        let marker = "name=\"password\" value=\"";
        let at = page.body.find(marker).unwrap() + marker.len();
        page.body[at..].split('"').next().unwrap().to_owned()
    };
    let wrong = visitor
        .post(
            "/account/data/login",
            &[
                ("login", "bob"),
                ("password", &password),
                ("code", "000000"),
                ("csrf", &page.csrf()),
            ],
        )
        .await;
    assert!(wrong
        .body
        .contains("That authentication code is not valid."));
    let (_, page) = visitor
        .submit(
            "/account/data/login",
            &[
                ("login", "bob"),
                ("password", &password),
                ("code", BOB_BACKUP),
                ("csrf", &wrong.csrf()),
            ],
        )
        .await;
    assert!(page.body.contains("Signed in as"), "{}", page.body);
}

#[tokio::test]
async fn the_page_speaks_the_browsers_language_then_the_users() {
    let app = app_with_fixture(false).await;
    let mut visitor = Visitor::new(&app);
    visitor.language = Some("de-DE,de;q=0.9,en;q=0.5".into());
    let page = visitor.get("/").await;
    assert!(page.body.contains("<html lang=\"de\">"));
    assert!(page.body.contains("<h1>Meine Daten</h1>"));
    assert!(page.body.contains("Benutzername oder E-Mail-Adresse"));
    let csrf = page.csrf();
    let wrong = visitor.post_sign_in("alice", "nope", &csrf).await;
    assert!(wrong
        .body
        .contains("Falscher Benutzername oder falsches Passwort."));

    // Signed in, the user's own language (none set for alice: the browser's) rules.
    let page = visitor.sign_in("alice", "alice-pass-0").await;
    assert!(page.body.contains("Meine Daten herunterladen (HTML)"));
    assert!(page.body.contains("Meine Daten exportieren (JSON)"));
}

#[tokio::test]
async fn with_rocket_chat_sessions_there_is_no_password_form_and_its_cookies_sign_in() {
    let rc = RocketChatStandIn::start();
    rc.accept(
        "ssoUser00000001",
        "sso-token",
        "sandra",
        "sandra@example.org",
    );
    let url = rc.url.clone();
    let app = TestApp::builder()
        .configure(move |s| {
            s.auth.mode = AuthMode::Rocketchat;
            s.rocketchat.url = Some(url);
            s.rocketchat.timeout_seconds = 1;
        })
        .spawn()
        .await;
    let mut visitor = Visitor::new(&app);
    let page = visitor.get("/").await;
    assert!(!page.body.contains("type=\"password\""), "{}", page.body);
    assert!(page.body.contains("first, then reload this page"));
    assert!(page.body.contains(&format!("href=\"{}\"", rc.url)));
    let refused = visitor
        .post(
            "/account/data/login",
            &[("login", "sandra"), ("password", "x")],
        )
        .await;
    assert_eq!(refused.status, 403);
    assert!(!visitor.cookies.contains_key("rc_token"));

    visitor
        .cookies
        .insert("rc_uid".into(), "ssoUser00000001".into());
    visitor
        .cookies
        .insert("rc_token".into(), "sso-token".into());
    let page = visitor.get("/").await;
    assert!(
        page.body.contains("Signed in as sandra (Rocket.Chat)"),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains("Sign out"),
        "Rocket.Chat's session is Rocket.Chat's to end"
    );
    let (_, page) = visitor
        .submit(
            "/account/data/request",
            &[("kind", "html"), ("csrf", &page.csrf())],
        )
        .await;
    assert!(page.body.contains(REQUESTED));
}

#[tokio::test]
async fn under_a_site_path_the_forms_redirects_and_cookies_stay_under_it() {
    let app = TestApp::builder()
        .configure(|s| s.server.site_url = "https://chat.example.org/udd".into())
        .spawn_with_sample()
        .await;
    let mut visitor = Visitor::new(&app);
    visitor.origin = Some("https://chat.example.org".into());
    let page = visitor.get("/udd/account/data").await;
    assert!(page.body.contains("action=\"/udd/account/data/login\""));
    assert!(page.body.contains("href=\"/udd/account/data/style.css\""));
    let posted = visitor
        .post(
            "/udd/account/data/login",
            &[
                ("login", "alice"),
                ("password", "alice-pass-0"),
                ("csrf", &page.csrf()),
            ],
        )
        .await;
    assert_eq!(posted.status, 303);
    assert_eq!(posted.location(), "/udd/account/data");
    let cookie = posted.set_cookie("rc_token").unwrap();
    assert!(
        cookie.contains("Path=/udd") && cookie.contains("Secure"),
        "{cookie}"
    );
}
