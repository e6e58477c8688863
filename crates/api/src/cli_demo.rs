//! What `udd demo` and `udd serve --demo` print: the seeding summary and a walkthrough
//! of the demo workspace.

use udd_app::{DemoSummary, DEMO_PASSWORD};

use crate::settings::Settings;

pub(crate) fn print_demo_summary(summary: &DemoSummary, took: std::time::Duration) {
    println!(
        "demo workspace: {} users, {} rooms, {} subscriptions, {} messages, {} uploads in {:.1}s",
        summary.users,
        summary.rooms,
        summary.subscriptions,
        summary.messages,
        summary.uploads,
        took.as_secs_f64()
    );
    println!(
        "log in as any of: {} … with password `{DEMO_PASSWORD}`",
        summary.usernames.join(", ")
    );
}

pub(crate) fn print_walkthrough(settings: &Settings) {
    let base = format!("http://{}", settings.server.bind);
    println!(
        r#"
Try it:
  1. log in:
     curl -s -X POST {base}/api/v1/login -H 'content-type: application/json' \
          -d '{{"user":"alice","password":"{DEMO_PASSWORD}"}}'
  2. with the userId and authToken it returns, ask for your data:
     curl -s '{base}/api/v1/users.requestDataDownload?fullExport=false' \
          -H 'X-User-Id: <userId>' -H 'X-Auth-Token: <authToken>'
  3. when the export is done, alice is mailed a download link ({}); follow it:
     curl -OJ '<link>'
"#,
        match &settings.smtp.host {
            Some(host) => format!("sent through {host}"),
            None => format!(
                "no SMTP server is set, so the mail is a .eml file in {} and the link is in the log",
                settings.smtp.outbox_path.display()
            ),
        },
    );
}
