//! Load check for login throttling: attackers hammer `POST /api/v1/login` with wrong
//! passwords while a victim, from another loopback address, asks for its data every
//! 100 ms and logs in now and then. Prints the victim's latencies and errors and what
//! the attackers were answered. Loopback only, and it stops by itself.
//!
//! `scripts/bench-login-storm.sh` starts a server and runs this; by hand:
//!
//! ```text
//! cargo run --release --example login_storm -- --url http://127.0.0.1:3000 \
//!     --victim bob:bob-password --target alice [--attackers 50] [--seconds 20]
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

struct Args {
    url: String,
    victim: (String, String),
    target: String,
    attackers: usize,
    seconds: u64,
    poll: Duration,
    attacker_ip: IpAddr,
    victim_ip: IpAddr,
}

fn parse_args() -> Args {
    let mut args = Args {
        url: "http://127.0.0.1:3000".into(),
        victim: (String::new(), String::new()),
        target: "alice".into(),
        attackers: 50,
        seconds: 20,
        poll: Duration::from_millis(100),
        attacker_ip: [127, 0, 0, 1].into(),
        victim_ip: [127, 0, 0, 2].into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--url" => args.url = value,
            "--victim" => {
                let (user, password) = value.split_once(':').expect("--victim USER:PASSWORD");
                args.victim = (user.into(), password.into());
            }
            "--target" => args.target = value,
            "--attackers" => args.attackers = value.parse().expect("a count"),
            "--seconds" => args.seconds = value.parse::<u64>().expect("seconds").min(120),
            "--poll-ms" => args.poll = Duration::from_millis(value.parse().expect("ms")),
            "--attacker-ip" => args.attacker_ip = value.parse().expect("an address"),
            "--victim-ip" => args.victim_ip = value.parse().expect("an address"),
            other => panic!("unknown argument {other}"),
        }
    }
    for ip in [args.attacker_ip, args.victim_ip] {
        assert!(ip.is_loopback(), "only loopback addresses, not {ip}");
    }
    assert!(
        !args.victim.0.is_empty(),
        "--victim USER:PASSWORD is required"
    );
    args
}

fn client(from: IpAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(from)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("an HTTP client")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// How the server answered: status and, for errors, Rocket.Chat's error code.
fn kind(status: u16, body: &Value) -> String {
    let error = body["error"].as_str().unwrap_or_default();
    let code = if status == 429 {
        "too-many-requests"
    } else {
        error
    };
    format!("{status} {code}").trim().to_owned()
}

struct Victim {
    polls: Vec<Duration>,
    wrong: Vec<String>,
    logins: Vec<(Duration, String)>,
}

/// Logs `user` in; how long it took, how it was answered, and the body.
async fn log_in(
    http: reqwest::Client,
    url: String,
    user: String,
    password: String,
) -> (Duration, String, Value) {
    let started = Instant::now();
    let response = http
        .post(format!("{url}/api/v1/login"))
        .json(&json!({"user": user, "password": password}))
        .send()
        .await;
    let took = started.elapsed();
    match response {
        Ok(r) => {
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap_or_default();
            (took, kind(status, &body), body)
        }
        Err(e) => (took, format!("transport: {e}"), Value::Null),
    }
}

/// The victim, on a runtime of its own so the attackers' tasks cannot delay its clock:
/// it logs in and asks for its data before the storm (`ready`), then, until the deadline
/// it is sent (`go`), asks for its data every `poll` and, beside that, logs in again
/// every 2.5 s.
fn victim(
    args: &Args,
    ready: tokio::sync::oneshot::Sender<()>,
    go: tokio::sync::oneshot::Receiver<Instant>,
) -> Victim {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let (url, from, poll) = (args.url.clone(), args.victim_ip, args.poll);
    let (user, password) = args.victim.clone();
    runtime.block_on(async move {
        let http = client(from);
        let (_, answer, body) =
            log_in(http.clone(), url.clone(), user.clone(), password.clone()).await;
        assert!(
            answer.starts_with("200"),
            "the victim cannot log in: {body}"
        );
        let (id, token) = (
            body["data"]["userId"].as_str().unwrap().to_owned(),
            body["data"]["authToken"].as_str().unwrap().to_owned(),
        );
        let request = || {
            http.get(format!("{url}/api/v1/users.requestDataDownload"))
                .header("X-User-Id", &id)
                .header("X-Auth-Token", &token)
                .send()
        };
        let first: Value = request().await.unwrap().json().await.unwrap();
        let operation = first["exportOperation"]["_id"].clone();
        assert!(operation.is_string(), "no operation: {first}");
        ready.send(()).expect("main is waiting");
        let deadline = go.await.expect("the storm starts");

        let logins = tokio::spawn({
            let (http, url) = (http.clone(), url.clone());
            async move {
                let mut logins = Vec::new();
                let mut ticks = tokio::time::interval_at(
                    tokio::time::Instant::now() + Duration::from_millis(2_500),
                    Duration::from_millis(2_500),
                );
                loop {
                    ticks.tick().await;
                    if Instant::now() >= deadline {
                        return logins;
                    }
                    let (took, answer, _) =
                        log_in(http.clone(), url.clone(), user.clone(), password.clone()).await;
                    logins.push((took, answer));
                }
            }
        });
        let mut result = Victim {
            polls: Vec::new(),
            wrong: Vec::new(),
            logins: Vec::new(),
        };
        let mut ticks = tokio::time::interval(poll);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while Instant::now() < deadline {
            ticks.tick().await;
            let started = Instant::now();
            match request().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    match response.json::<Value>().await {
                        Ok(body)
                            if status == 200
                                && body["success"] == true
                                && body["exportOperation"]["_id"] == operation => {}
                        Ok(body) => result.wrong.push(format!("{status} {body}")),
                        Err(e) => result.wrong.push(format!("{status} unreadable: {e}")),
                    }
                }
                Err(e) => result.wrong.push(format!("transport: {e}")),
            }
            result.polls.push(started.elapsed());
        }
        result.logins = logins.await.expect("the logins finished");
        result
    })
}

#[tokio::main]
async fn main() {
    let args = parse_args();
    let (attackers, seconds) = (args.attackers, args.seconds);
    let (attacker_ip, url, target) = (args.attacker_ip, args.url.clone(), args.target.clone());
    let (ready_tx, ready) = tokio::sync::oneshot::channel();
    let (go, go_rx) = tokio::sync::oneshot::channel();
    let victim = tokio::task::spawn_blocking(move || victim(&args, ready_tx, go_rx));
    ready.await.expect("the victim is ready");
    let deadline = Instant::now() + Duration::from_secs(seconds);
    go.send(deadline).expect("the victim waits");
    let attacks: Vec<_> = (0..attackers)
        .map(|n| {
            let http = client(attacker_ip);
            let (url, target) = (url.clone(), target.clone());
            tokio::spawn(async move {
                let mut answers: BTreeMap<String, u64> = BTreeMap::new();
                let mut took = Vec::new();
                let mut attempt = 0u64;
                while Instant::now() < deadline {
                    attempt += 1;
                    let started = Instant::now();
                    let response = http
                        .post(format!("{url}/api/v1/login"))
                        .json(&json!({"user": target, "password": format!("wrong-{n}-{attempt}")}))
                        .send()
                        .await;
                    let answer = match response {
                        Ok(r) => {
                            let status = r.status().as_u16();
                            let body: Value = r.json().await.unwrap_or_default();
                            kind(status, &body)
                        }
                        Err(e) => format!("transport error: {e}"),
                    };
                    took.push(started.elapsed());
                    *answers.entry(answer).or_default() += 1;
                }
                (answers, took)
            })
        })
        .collect();
    let victim = victim.await.expect("the victim finished");

    let mut answers: BTreeMap<String, u64> = BTreeMap::new();
    let mut attack_times = Vec::new();
    for attack in attacks {
        let (counts, took) = attack.await.expect("an attacker finished");
        for (answer, n) in counts {
            *answers.entry(answer).or_default() += n;
        }
        attack_times.extend(took);
    }
    attack_times.sort();

    let mut polls = victim.polls.clone();
    polls.sort();
    println!(
        "victim   {} requests of its data: p50 {}, p99 {}, max {}; wrong answers or errors: {}",
        polls.len(),
        ms(percentile(&polls, 50.0)),
        ms(percentile(&polls, 99.0)),
        ms(polls.last().copied().unwrap_or_default()),
        victim.wrong.len()
    );
    for wrong in victim.wrong.iter().take(5) {
        println!("         e.g. {wrong}");
    }
    let mut logins: Vec<Duration> = victim.logins.iter().map(|(d, _)| *d).collect();
    logins.sort();
    let mut login_answers: BTreeMap<&str, u64> = BTreeMap::new();
    for (_, answer) in &victim.logins {
        *login_answers.entry(answer.as_str()).or_default() += 1;
    }
    println!(
        "victim   {} logins with the right password: p50 {}, max {}; answers {:?}",
        logins.len(),
        ms(percentile(&logins, 50.0)),
        ms(logins.last().copied().unwrap_or_default()),
        login_answers
    );
    let total: u64 = answers.values().sum();
    println!(
        "attacker {} connections, {} wrong-password logins in {} s ({:.0}/s): p50 {}, p99 {}",
        attackers,
        total,
        seconds,
        total as f64 / seconds as f64,
        ms(percentile(&attack_times, 50.0)),
        ms(percentile(&attack_times, 99.0)),
    );
    for (answer, n) in &answers {
        println!("         {n:>8}  {answer}");
    }
}
