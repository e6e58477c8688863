//! English: the reference every other language must match key for key.

/// Every user-facing string of the mails.
pub const MESSAGES: &[(&str, &str)] = &[
    ("greeting", "Hello {name},"),
    ("kind.personal", "personal data export"),
    ("kind.full", "full data export"),
    (
        "contents.personal",
        "It holds your messages as web pages you can open in any browser, with the files you uploaded and your profile.",
    ),
    (
        "contents.full",
        "It holds your messages as machine-readable JSON files, one per room, with the files you uploaded, your profile and a manifest describing the archive.",
    ),
    ("ready.subject", "[{site}] Your {kind} is ready"),
    ("ready.intro", "Your {kind} from {site} is ready."),
    ("ready.link", "Download it here (no login needed; the link is for you only):"),
    ("ready.link_html", "Download {file}"),
    ("ready.no_login", "No login is needed; the link is for you only."),
    ("ready.file", "File: {file} ({size})"),
    ("ready.expiry", "The link and the file expire on {expires}. After that, request a new export."),
    ("failed.subject", "[{site}] Your {kind} failed"),
    ("failed.body", "Your {kind} from {site} could not be completed, and the partial files were removed."),
    ("failed.again", "You can request it again now; if it keeps failing, please contact your workspace administrator."),
    ("not_you", "Did not ask for this? Tell your administrator."),
    ("code.subject", "Authentication code"),
    ("code.intro", "Here is your authentication code:"),
    ("code.keep", "Do not provide this code to anyone."),
    ("code.not_you", "If you didn't try to login in your account please ignore this email."),
];
