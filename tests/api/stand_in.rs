//! A stand-in for a Rocket.Chat workspace's `GET /api/v1/me`, on a free loopback port:
//! it knows a set of (user id, token) pairs, answers Rocket.Chat's 200 and 401 bodies,
//! and can be switched to failing (5xx) or slow.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

#[derive(Default)]
struct State {
    /// (user id, token) → the user document `/me` answers.
    sessions: Mutex<HashMap<(String, String), Value>>,
    /// Answer every request with this status instead (e.g. 503).
    failing: Mutex<Option<u16>>,
    /// Wait this long before answering.
    delay: Mutex<Duration>,
    asked: AtomicUsize,
    stopped: AtomicBool,
}

/// The running stand-in; stops when dropped.
pub struct RocketChatStandIn {
    pub url: String,
    state: Arc<State>,
}

impl RocketChatStandIn {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let state = Arc::new(State::default());
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if shared.stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let state = shared.clone();
                std::thread::spawn(move || answer(stream, &state));
            }
        });
        Self { url, state }
    }

    /// Rocket.Chat accepts `token` for the user `id` from now on.
    pub fn accept(&self, id: &str, token: &str, username: &str, email: &str) {
        let me = json!({
            "_id": id,
            "username": username,
            "emails": [{"address": email, "verified": true}],
            "type": "user",
            "status": "online",
            "active": true,
            "name": format!("{username} (Rocket.Chat)"),
            "roles": ["user"],
            "language": "en",
            "settings": {"preferences": {}},
            "success": true
        });
        self.state
            .sessions
            .lock()
            .unwrap()
            .insert((id.to_owned(), token.to_owned()), me);
    }

    /// The token is revoked (a logout in Rocket.Chat, an admin removing sessions).
    pub fn revoke(&self, id: &str, token: &str) {
        self.state
            .sessions
            .lock()
            .unwrap()
            .remove(&(id.to_owned(), token.to_owned()));
    }

    /// Every request is answered `status` (None: normally again).
    pub fn fail_with(&self, status: Option<u16>) {
        *self.state.failing.lock().unwrap() = status;
    }

    /// Every answer waits `delay` first.
    pub fn slow_down(&self, delay: Duration) {
        *self.state.delay.lock().unwrap() = delay;
    }

    /// How many requests reached it.
    pub fn asked(&self) -> usize {
        self.state.asked.load(Ordering::SeqCst)
    }
}

impl Drop for RocketChatStandIn {
    fn drop(&mut self) {
        self.state.stopped.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.url.trim_start_matches("http://"));
    }
}

fn answer(stream: TcpStream, state: &State) {
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
        return;
    }
    let mut headers = HashMap::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.insert(name.trim().to_lowercase(), value.trim().to_owned());
        }
    }
    state.asked.fetch_add(1, Ordering::SeqCst);
    std::thread::sleep(*state.delay.lock().unwrap());
    let (status, body) = if let Some(status) = *state.failing.lock().unwrap() {
        (
            status,
            json!({"success": false, "error": "Service Unavailable"}),
        )
    } else if !request_line.starts_with("GET /api/v1/me ") {
        (404, json!({"success": false, "error": "Not found"}))
    } else {
        let key = (
            headers.get("x-user-id").cloned().unwrap_or_default(),
            headers.get("x-auth-token").cloned().unwrap_or_default(),
        );
        match state.sessions.lock().unwrap().get(&key) {
            Some(me) => (200, me.clone()),
            None => (
                401,
                json!({"status": "error", "message": "You must be logged in to do this."}),
            ),
        }
    };
    let body = body.to_string();
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}
