use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::thread;

use super::*;

/// Answers one request on a loopback port with `response` (raw HTTP, after an optional
/// delay) and hands back the request's head.
fn serve_once(response: &'static str, delay: Duration) -> (String, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let Ok((stream, _)) = listener.accept() else {
            return;
        };
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut head = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
            head.push_str(&line);
        }
        let _ = tx.send(head);
        thread::sleep(delay);
        let mut stream = stream;
        let _ = stream.write_all(response.as_bytes());
    });
    (url, rx)
}

const ME: &str = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n\
{\"_id\":\"u1\",\"username\":\"alice\",\"emails\":[{\"address\":\"a@example.org\",\"verified\":true}],\
\"name\":\"Alice\",\"active\":true,\"roles\":[\"user\"],\"language\":\"de\",\"success\":true}";

fn sessions(url: &str) -> RocketChatSessions {
    RocketChatSessions::new(url, Duration::from_millis(500)).unwrap()
}

#[test]
fn a_token_rocket_chat_accepts_gives_its_user_and_the_headers_are_forwarded() {
    let (url, head) = serve_once(ME, Duration::ZERO);
    let user = sessions(&format!("{url}/"))
        .verify(&"u1".into(), "tok-1")
        .unwrap()
        .unwrap();
    assert_eq!(user.username, "alice");
    assert_eq!(user.name.as_deref(), Some("Alice"));
    assert_eq!(user.emails[0].address, "a@example.org");
    assert!(user.emails[0].verified);
    assert_eq!(user.roles, ["user"]);
    assert_eq!(user.language.as_deref(), Some("de"));
    let head = head.recv().unwrap().to_lowercase();
    assert!(head.starts_with("get /api/v1/me "), "{head}");
    assert!(head.contains("x-user-id: u1\r\n"), "{head}");
    assert!(head.contains("x-auth-token: tok-1\r\n"), "{head}");
}

#[test]
fn rocket_chats_401_refuses_the_token() {
    let (url, _) = serve_once(
        "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n\
         {\"status\":\"error\",\"message\":\"You must be logged in to do this.\"}",
        Duration::ZERO,
    );
    assert_eq!(
        sessions(&url).verify(&"u1".into(), "revoked").unwrap(),
        None
    );
}

#[test]
fn a_token_of_another_user_is_refused() {
    let (url, _) = serve_once(ME, Duration::ZERO);
    assert_eq!(
        sessions(&url)
            .verify(&"someone-else".into(), "tok")
            .unwrap(),
        None
    );
}

#[test]
fn anything_but_a_clear_answer_is_unavailable_never_a_refusal() {
    for response in [
        "HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\n\r\n",
        "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\n",
        "HTTP/1.1 302 Found\r\nLocation: http://elsewhere.invalid/\r\nConnection: close\r\n\r\n",
        "HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n",
        "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n<html>a proxy page</html>",
        "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{\"success\":true}",
    ] {
        let (url, _) = serve_once(response, Duration::ZERO);
        let result = sessions(&url).verify(&"u1".into(), "tok");
        assert!(
            matches!(result, Err(SessionError::Unavailable(_))),
            "{response}: {result:?}"
        );
    }
}

#[test]
fn a_server_that_is_down_or_too_slow_is_unavailable() {
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    assert!(matches!(
        sessions(&url).verify(&"u1".into(), "tok"),
        Err(SessionError::Unavailable(_))
    ));

    let (url, _) = serve_once(ME, Duration::from_secs(3));
    let started = std::time::Instant::now();
    assert!(matches!(
        sessions(&url).verify(&"u1".into(), "tok"),
        Err(SessionError::Unavailable(_))
    ));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn tokens_that_cannot_be_headers_are_refused_without_asking_and_bad_urls_are_refused() {
    let sessions = sessions("http://127.0.0.1:9");
    assert_eq!(sessions.verify(&"u1".into(), "line\nbreak").unwrap(), None);
    assert_eq!(sessions.verify(&"".into(), "tok").unwrap(), None);
    assert!(RocketChatSessions::new("chat.example.com", Duration::from_secs(1)).is_err());
    assert!(RocketChatSessions::new("ftp://chat.example.com", Duration::from_secs(1)).is_err());
}
