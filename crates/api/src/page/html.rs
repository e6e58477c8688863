//! The "My data" page's HTML, written by hand. Every value that comes from a user, the
//! store or the request passes through [`escape_html`] on its way in; the only
//! unescaped text is this module's own markup and the catalogue's strings, which are
//! escaped too, so a translation cannot break the page.
//!
//! No inline script or style anywhere: the Content-Security-Policy forbids both.

use chrono::{DateTime, Utc};
use udd_app::MyExport;
use udd_domain::i18n::Catalogue;
use udd_domain::render::escape_html;
use udd_domain::ExportStatus;

use crate::dto::WirePaths;

/// What every page needs to know about the site.
#[derive(Debug, Clone)]
pub struct Site {
    /// `server.site_url`, for checking where a form was posted from.
    pub url: String,
    /// The path prefix of `server.site_url` (`""` or `/udd`).
    pub path: String,
    /// The workspace's name.
    pub name: String,
    /// In `auth.mode = "rocketchat"`: the workspace to sign in to.
    pub rocketchat_url: Option<String>,
    /// Whether sessions are Rocket.Chat's (no password form here).
    pub remote: bool,
    /// Whether the site is served over https (cookies are then `Secure`).
    pub secure: bool,
    /// How long a session cookie is kept: as long as its login token works
    /// (`accounts.login_expiration_days`), as Rocket.Chat keeps its own.
    pub session_days: u32,
}

impl Site {
    /// The page's own path under the site (`/udd/account/data`).
    pub fn page_path(&self) -> String {
        format!("{}/account/data", self.path)
    }
}

/// A message shown at the top of the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// Good news or information (`role="status"`).
    Info(String),
    /// Something went wrong (`role="alert"`).
    Error(String),
}

/// The sign-in form as it is to be shown again.
#[derive(Debug, Clone, Default)]
pub struct SignIn {
    /// The login name typed before.
    pub login: String,
    /// Kept for the second step (the code), so the person need not type it again.
    pub password: Option<String>,
    /// Whether the code field is shown.
    pub ask_code: bool,
}

/// What the main part of the page shows.
pub enum Main<'a> {
    /// Signed out, password sign-in available.
    SignIn(SignIn),
    /// Signed out, sessions are Rocket.Chat's.
    SignInElsewhere,
    /// Signed in.
    Account {
        /// Who.
        display_name: &'a str,
        /// Their exports.
        exports: &'a [MyExport],
        /// Where downloads are.
        paths: &'a WirePaths,
    },
}

/// `html` with every argument value escaped.
fn t(cat: &Catalogue, key: &str, args: &[(&str, &str)]) -> String {
    let escaped: Vec<(&str, String)> = args.iter().map(|(k, v)| (*k, escape_html(v))).collect();
    let refs: Vec<(&str, &str)> = escaped.iter().map(|(k, v)| (*k, v.as_str())).collect();
    // The template itself is escaped before the (already escaped) values go in.
    udd_domain::i18n::fill(&escape_html(&cat.text(key, &[])), &refs)
}

/// A date as the page shows it.
pub fn date(cat: &Catalogue, at: DateTime<Utc>) -> String {
    cat.text(
        "page.date",
        &[("date", &at.format("%Y-%m-%d %H:%M").to_string())],
    )
}

/// The whole page.
pub fn page(
    cat: &Catalogue,
    site: &Site,
    csrf: &str,
    notice: Option<&Notice>,
    main: &Main<'_>,
) -> String {
    let base = site.page_path();
    let title = t(cat, "page.title", &[]);
    let mut out = String::with_capacity(8 * 1024);
    let (status_attr, active) = match main {
        Main::Account { exports, .. } => (
            format!(" data-status=\"{}/status\"", escape_html(&base)),
            exports.iter().any(MyExport::is_active),
        ),
        _ => (String::new(), false),
    };
    out.push_str(&format!(
        "<!DOCTYPE html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"referrer\" content=\"same-origin\">\n\
         <title>{title} – {site}</title>\n\
         <link rel=\"icon\" href=\"{base}/icon.svg\" type=\"image/svg+xml\">\n\
         <link rel=\"stylesheet\" href=\"{base}/style.css\">\n\
         <script src=\"{base}/app.js\" defer></script>\n</head>\n\
         <body{status_attr} data-active=\"{active}\">\n\
         <a class=\"skip\" href=\"#main\">{skip}</a>\n<header class=\"top\">\n\
         <p class=\"site\">{site}</p>\n",
        lang = cat.code(),
        site = escape_html(&site.name),
        base = escape_html(&base),
        skip = t(cat, "page.skip", &[]),
    ));
    if let Main::Account { display_name, .. } = main {
        out.push_str(&format!(
            "<div class=\"who\"><span>{}</span>",
            t(cat, "page.signed_in", &[("name", display_name)])
        ));
        if !site.remote {
            out.push_str(&format!(
                "<form method=\"post\" action=\"{base}/logout\">{hidden}\
                 <button type=\"submit\" class=\"link\">{label}</button></form>",
                base = escape_html(&base),
                hidden = csrf_field(csrf),
                label = t(cat, "page.signout", &[]),
            ));
        }
        out.push_str("</div>\n");
    }
    out.push_str(&format!(
        "</header>\n<main id=\"main\" tabindex=\"-1\">\n<h1>{title}</h1>\n<p class=\"intro\">{intro}</p>\n",
        intro = t(cat, "page.intro", &[("site", &site.name)]),
    ));
    match notice {
        Some(Notice::Info(text)) => out.push_str(&format!(
            "<p class=\"notice info\" role=\"status\" id=\"notice\">{}</p>\n",
            escape_html(text)
        )),
        Some(Notice::Error(text)) => out.push_str(&format!(
            "<p class=\"notice error\" role=\"alert\" id=\"notice\">{}</p>\n",
            escape_html(text)
        )),
        None => {}
    }
    match main {
        Main::SignIn(form) => sign_in(&mut out, cat, site, csrf, form),
        Main::SignInElsewhere => sign_in_elsewhere(&mut out, cat, site),
        Main::Account { exports, paths, .. } => {
            request_forms(&mut out, cat, &base, csrf);
            out.push_str(&format!(
                "<section aria-labelledby=\"exports-heading\">\n<h2 id=\"exports-heading\">{}</h2>\n\
                 <div id=\"exports\" aria-live=\"polite\">{}</div>\n\
                 <p class=\"refresh\"><a href=\"{}\">{}</a></p>\n</section>\n",
                t(cat, "page.exports.heading", &[]),
                exports_fragment(cat, exports, paths),
                escape_html(&base),
                t(cat, "page.exports.refresh", &[]),
            ));
        }
    }
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

fn csrf_field(csrf: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        escape_html(csrf)
    )
}

fn sign_in(out: &mut String, cat: &Catalogue, site: &Site, csrf: &str, form: &SignIn) {
    let base = escape_html(&site.page_path());
    out.push_str(&format!(
        "<section aria-labelledby=\"signin-heading\">\n<h2 id=\"signin-heading\">{heading}</h2>\n\
         <p>{explain}</p>\n<form method=\"post\" action=\"{base}/login\" class=\"signin\">\n{hidden}\n\
         <label for=\"login\">{login_label}</label>\n\
         <input id=\"login\" name=\"login\" type=\"text\" autocomplete=\"username\" autocapitalize=\"none\" \
         spellcheck=\"false\" required value=\"{login}\"{login_focus}>\n",
        heading = t(cat, "page.signin.heading", &[]),
        explain = t(cat, "page.signin.explain", &[("site", &site.name)]),
        hidden = csrf_field(csrf),
        login_label = t(cat, "page.signin.login", &[]),
        login = escape_html(&form.login),
        login_focus = if form.ask_code { "" } else { " autofocus" },
    ));
    match (&form.password, form.ask_code) {
        (Some(password), true) => out.push_str(&format!(
            "<input type=\"hidden\" name=\"password\" value=\"{}\">\n",
            escape_html(password)
        )),
        _ => out.push_str(&format!(
            "<label for=\"password\">{}</label>\n\
             <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\n",
            t(cat, "page.signin.password", &[]),
        )),
    }
    if form.ask_code {
        out.push_str(&format!(
            "<label for=\"code\">{label}</label>\n<p class=\"hint\" id=\"code-hint\">{hint}</p>\n\
             <input id=\"code\" name=\"code\" type=\"text\" inputmode=\"numeric\" autocomplete=\"one-time-code\" \
             aria-describedby=\"code-hint\" required autofocus>\n",
            label = t(cat, "page.signin.code", &[]),
            hint = t(cat, "page.signin.code_hint", &[]),
        ));
    }
    out.push_str(&format!(
        "<button type=\"submit\" class=\"primary\">{}</button>\n</form>\n</section>\n",
        t(cat, "page.signin.submit", &[])
    ));
}

fn sign_in_elsewhere(out: &mut String, cat: &Catalogue, site: &Site) {
    out.push_str(&format!(
        "<section aria-labelledby=\"signin-heading\">\n<h2 id=\"signin-heading\">{}</h2>\n<p>{}</p>\n",
        t(cat, "page.signin.heading", &[]),
        t(cat, "page.signin.remote", &[("site", &site.name)]),
    ));
    if let Some(url) = &site.rocketchat_url {
        out.push_str(&format!(
            "<p><a class=\"button primary\" href=\"{}\">{}</a></p>\n",
            escape_html(url),
            t(cat, "page.signin.remote_link", &[("site", &site.name)]),
        ));
    }
    out.push_str("</section>\n");
}

fn request_forms(out: &mut String, cat: &Catalogue, base: &str, csrf: &str) {
    out.push_str(&format!(
        "<section aria-labelledby=\"request-heading\">\n<h2 id=\"request-heading\">{}</h2>\n<p>{}</p>\n<div class=\"requests\">\n",
        t(cat, "page.request.heading", &[]),
        t(cat, "page.request.explain", &[]),
    ));
    for (kind, label, hint) in [
        ("html", "page.request.html", "page.request.html_hint"),
        ("json", "page.request.json", "page.request.json_hint"),
    ] {
        out.push_str(&format!(
            "<form method=\"post\" action=\"{base}/request\" class=\"request\">{hidden}\
             <input type=\"hidden\" name=\"kind\" value=\"{kind}\">\
             <button type=\"submit\" class=\"primary\" id=\"request-{kind}\" aria-describedby=\"hint-{kind}\">{label}</button>\
             <p class=\"hint\" id=\"hint-{kind}\">{hint}</p></form>\n",
            base = escape_html(base),
            hidden = csrf_field(csrf),
            label = t(cat, label, &[]),
            hint = t(cat, hint, &[]),
        ));
    }
    out.push_str("</div>\n</section>\n");
}

/// The list of exports: on the page, and in the status JSON for the script to swap in.
pub fn exports_fragment(cat: &Catalogue, exports: &[MyExport], paths: &WirePaths) -> String {
    if exports.is_empty() {
        return format!("<p class=\"none\">{}</p>", t(cat, "page.exports.none", &[]));
    }
    let mut out = String::new();
    for export in exports {
        let op = &export.operation;
        let (kind, kind_key) = if op.full_export {
            ("json", "page.exports.kind_json")
        } else {
            ("html", "page.exports.kind_html")
        };
        let status = op.status.as_str();
        let percent = export.percent();
        let (done, total) = export.messages();
        out.push_str(&format!(
            "<article class=\"export\" id=\"export-{kind}\" data-status=\"{status}\" data-percent=\"{percent}\">\n\
             <h3>{title}</h3>\n<dl>\n<dt>{status_label}</dt><dd class=\"status\">{status_text}</dd>\n\
             <dt>{asked_label}</dt><dd>{asked}</dd>\n",
            title = t(cat, kind_key, &[]),
            status_label = t(cat, "page.exports.status", &[]),
            status_text = t(cat, &format!("page.status.{status}"), &[]),
            asked_label = t(cat, "page.exports.requested_at", &[]),
            asked = escape_html(&date(cat, op.created_at)),
        ));
        if let Some(file) = &export.file {
            out.push_str(&format!(
                "<dt>{}</dt><dd>{}</dd>\n",
                t(cat, "page.exports.size", &[]),
                escape_html(&cat.size(file.size)),
            ));
            if let Some(expires) = file.expires_at {
                out.push_str(&format!(
                    "<dt>{}</dt><dd>{}</dd>\n",
                    t(cat, "page.exports.expires", &[]),
                    escape_html(&date(cat, expires)),
                ));
            }
        }
        out.push_str("</dl>\n");
        if !matches!(op.status, ExportStatus::Failed | ExportStatus::Skipped) {
            out.push_str(&format!(
                "<div class=\"progress\"><label for=\"progress-{kind}\">{label}</label>\
                 <progress id=\"progress-{kind}\" max=\"100\" value=\"{percent}\">{percent} %</progress>\
                 <span class=\"percent\">{percent} %</span>",
                label = t(cat, "page.exports.progress", &[]),
            ));
            if total > 0 {
                out.push_str(&format!(
                    " <span class=\"count\">({})</span>",
                    t(
                        cat,
                        "page.exports.messages",
                        &[
                            ("done", &done.min(total).to_string()),
                            ("total", &total.to_string())
                        ]
                    )
                ));
            }
            out.push_str("</div>\n");
        }
        if let Some(file) = &export.file {
            out.push_str(&format!(
                "<p><a class=\"button primary download\" id=\"download-{kind}\" href=\"{href}\">{label}</a></p>\n",
                href = escape_html(&paths.download_path(&file.id)),
                label = t(cat, "page.exports.download", &[("file", &file.name)]),
            ));
        } else if export.expired {
            out.push_str(&format!(
                "<p class=\"hint\">{}</p>\n",
                t(cat, "page.exports.expired", &[])
            ));
        }
        if op.status == ExportStatus::Failed {
            let reason = match op
                .failure_reason
                .as_deref()
                .filter(|r| !r.trim().is_empty())
            {
                Some(reason) => t(cat, "page.exports.failed", &[("reason", reason)]),
                None => t(cat, "page.exports.failed_unknown", &[]),
            };
            out.push_str(&format!("<p class=\"failure\">{reason}</p>\n"));
        }
        out.push_str("</article>\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use udd_domain::ExportOperation;

    fn site() -> Site {
        Site {
            url: "https://chat.example.org/udd".into(),
            path: "/udd".into(),
            name: "<Chat & Co>".into(),
            rocketchat_url: None,
            remote: false,
            secure: false,
            session_days: 90,
        }
    }

    fn paths() -> WirePaths {
        WirePaths::from_settings(&crate::Settings::default())
    }

    #[test]
    fn user_data_and_catalogue_text_are_escaped() {
        let cat = Catalogue::english();
        let mut op =
            ExportOperation::new_pending("OP".into(), "U".into(), false, DateTime::UNIX_EPOCH);
        op.status = ExportStatus::Failed;
        op.failure_reason = Some("<script>alert(1)</script>".into());
        let exports = [MyExport {
            operation: op,
            file: None,
            expired: false,
            next_request_at: None,
        }];
        let paths = paths();
        let html = page(
            &cat,
            &site(),
            "to\"ken",
            Some(&Notice::Error("<b>".into())),
            &Main::Account {
                display_name: "<img src=x onerror=alert(1)>",
                exports: &exports,
                paths: &paths,
            },
        );
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("<b>"), "{html}");
        assert!(html.contains("&lt;Chat &amp; Co&gt;"));
        assert!(html.contains("value=\"to&quot;ken\""));
        assert!(html.contains("The export failed: &lt;script&gt;"));
        assert!(!html.contains("style="), "no inline style: {html}");
        assert!(!html.contains("<script>"), "no inline script");
        assert!(html.contains("<html lang=\"en\">"));
        assert!(html.contains("action=\"/udd/account/data/request\""));
    }

    #[test]
    fn the_sign_in_form_has_labels_and_keeps_the_password_only_for_the_code_step() {
        let cat = Catalogue::for_language(Some("de"));
        let first = page(&cat, &site(), "t", None, &Main::SignIn(SignIn::default()));
        assert!(first.contains("<html lang=\"de\">"));
        assert!(first.contains("<label for=\"login\">Benutzername oder E-Mail-Adresse</label>"));
        assert!(first.contains("<label for=\"password\">Passwort</label>"));
        assert!(!first.contains("name=\"code\""));
        let second = page(
            &cat,
            &site(),
            "t",
            None,
            &Main::SignIn(SignIn {
                login: "alice".into(),
                password: Some("p\"w".into()),
                ask_code: true,
            }),
        );
        assert!(second.contains("<label for=\"code\">Bestätigungscode</label>"));
        assert!(second.contains("name=\"password\" value=\"p&quot;w\""));
        assert!(second.contains("value=\"alice\""));
    }

    #[test]
    fn sessions_elsewhere_show_no_password_field() {
        let mut remote = site();
        remote.remote = true;
        remote.rocketchat_url = Some("https://chat.example.org".into());
        let html = page(
            &Catalogue::english(),
            &remote,
            "t",
            None,
            &Main::SignInElsewhere,
        );
        assert!(!html.contains("type=\"password\""));
        assert!(html.contains("href=\"https://chat.example.org\""));
    }
}
