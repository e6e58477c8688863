//! Deutsch.

/// Every user-facing string of the mails.
pub const MESSAGES: &[(&str, &str)] = &[
    ("greeting", "Hallo {name},"),
    ("kind.personal", "persönlicher Datenexport"),
    ("kind.full", "vollständiger Datenexport"),
    (
        "contents.personal",
        "Er enthält Ihre Nachrichten als Webseiten, die Sie in jedem Browser öffnen können, dazu die Dateien, die Sie hochgeladen haben, und Ihr Profil.",
    ),
    (
        "contents.full",
        "Er enthält Ihre Nachrichten als maschinenlesbare JSON-Dateien, eine je Raum, dazu die Dateien, die Sie hochgeladen haben, Ihr Profil und ein Manifest, das das Archiv beschreibt.",
    ),
    ("ready.subject", "[{site}] Ihr {kind} ist fertig"),
    ("ready.intro", "Ihr {kind} aus {site} ist fertig."),
    ("ready.link", "Hier herunterladen (ohne Anmeldung; der Link ist nur für Sie):"),
    ("ready.link_html", "{file} herunterladen"),
    ("ready.no_login", "Eine Anmeldung ist nicht nötig; der Link ist nur für Sie."),
    ("ready.file", "Datei: {file} ({size})"),
    ("ready.expiry", "Link und Datei verfallen am {expires}. Danach fordern Sie bitte einen neuen Export an."),
    ("failed.subject", "[{site}] Ihr {kind} ist fehlgeschlagen"),
    ("failed.body", "Ihr {kind} aus {site} konnte nicht abgeschlossen werden; die unvollständigen Dateien wurden entfernt."),
    ("failed.again", "Sie können ihn sofort erneut anfordern; schlägt er wiederholt fehl, wenden Sie sich bitte an die Administration Ihres Arbeitsbereichs."),
    ("not_you", "Sie haben das nicht angefordert? Sagen Sie es Ihrer Administration."),
    ("code.subject", "Authentifizierungscode"),
    ("code.intro", "Hier ist Ihr Authentifizierungscode:"),
    ("code.keep", "Geben Sie diesen Code an niemanden weiter."),
    ("code.not_you", "Wenn Sie nicht versucht haben, sich bei Ihrem Konto anzumelden, ignorieren Sie bitte diese E-Mail."),
];
