use std::sync::atomic::{AtomicUsize, Ordering};

use std::sync::Mutex;

use chrono::Duration;

use super::super::tests::TestClock;
use super::*;
use udd_ports::{MockRemoteSessions, MockUserProfiles, RemoteUser};

fn remote(id: &str, active: bool) -> RemoteUser {
    RemoteUser {
        id: id.into(),
        username: format!("user-{id}"),
        name: None,
        emails: vec![],
        active,
        roles: vec!["user".into()],
        language: None,
    }
}

/// Profiles stored as they come, counting the refreshes.
fn profiles(refreshes: Arc<AtomicUsize>) -> Arc<dyn UserProfiles> {
    let mut profiles = MockUserProfiles::new();
    profiles.expect_refresh().returning(move |remote, at| {
        refreshes.fetch_add(1, Ordering::SeqCst);
        Ok(User {
            id: remote.id.clone().into(),
            username: remote.username.clone(),
            name: remote.name.clone(),
            emails: remote.emails.clone(),
            roles: remote.roles.clone(),
            status_text: None,
            services: vec![],
            active: remote.active,
            created_at: at,
            language: None,
        })
    });
    Arc::new(profiles)
}

/// Rocket.Chat as a table of valid (user, token) pairs the test can change, counting
/// the questions it is asked.
#[derive(Default)]
struct Workspace {
    valid: Mutex<Vec<(String, String, bool)>>,
    down: Mutex<bool>,
    asked: AtomicUsize,
}

impl RemoteSessions for Workspace {
    fn verify(&self, user_id: &UserId, token: &str) -> Result<Option<RemoteUser>, SessionError> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        if *self.down.lock().unwrap() {
            return Err(SessionError::Unavailable(anyhow::anyhow!(
                "connection refused"
            )));
        }
        Ok(self
            .valid
            .lock()
            .unwrap()
            .iter()
            .find(|(u, t, _)| u == user_id && t == token)
            .map(|(u, _, active)| remote(u, *active)))
    }
}

struct Fixture {
    workspace: Arc<Workspace>,
    clock: Arc<TestClock>,
    refreshes: Arc<AtomicUsize>,
    check: RemoteSessionCheck,
}

fn fixture(config: SessionCacheConfig) -> Fixture {
    let workspace = Arc::new(Workspace::default());
    workspace
        .valid
        .lock()
        .unwrap()
        .push(("u1".into(), "good".into(), true));
    let clock = Arc::new(TestClock::default());
    let refreshes = Arc::new(AtomicUsize::new(0));
    let check = RemoteSessionCheck::new(
        workspace.clone(),
        profiles(refreshes.clone()),
        clock.clone(),
        config,
    );
    Fixture {
        workspace,
        clock,
        refreshes,
        check,
    }
}

impl Fixture {
    fn asked(&self) -> usize {
        self.workspace.asked.load(Ordering::SeqCst)
    }
}

#[test]
fn a_valid_token_is_asked_once_per_cache_time_and_its_user_kept() {
    let f = fixture(SessionCacheConfig::default());
    let user = f.check.authenticate(&"u1".into(), "good").unwrap();
    assert_eq!(user.username, "user-u1");
    assert_eq!(f.refreshes.load(Ordering::SeqCst), 1);
    f.clock.advance(Duration::seconds(59));
    assert_eq!(f.check.authenticate(&"u1".into(), "good").unwrap().id, "u1");
    assert_eq!(f.asked(), 1, "answered from the cache");
    assert_eq!(
        f.refreshes.load(Ordering::SeqCst),
        1,
        "no write per request"
    );
    f.clock.advance(Duration::seconds(1));
    f.check.authenticate(&"u1".into(), "good").unwrap();
    assert_eq!(f.asked(), 2, "asked again after 60 s");
}

#[test]
fn a_token_revoked_in_rocket_chat_stops_working_within_the_cache_time() {
    let f = fixture(SessionCacheConfig::default());
    f.check.authenticate(&"u1".into(), "good").unwrap();
    f.workspace.valid.lock().unwrap().clear();
    assert!(
        f.check.authenticate(&"u1".into(), "good").is_ok(),
        "still cached"
    );
    f.clock.advance(Duration::seconds(60));
    assert!(matches!(
        f.check.authenticate(&"u1".into(), "good"),
        Err(AuthError::NotLoggedIn)
    ));
}

#[test]
fn a_refused_token_is_refused_from_the_cache_for_a_few_seconds() {
    let f = fixture(SessionCacheConfig::default());
    for _ in 0..3 {
        assert!(matches!(
            f.check.authenticate(&"u1".into(), "bad"),
            Err(AuthError::NotLoggedIn)
        ));
    }
    assert_eq!(f.asked(), 1);
    // Now valid in Rocket.Chat (a fresh login that happened to reuse it): seen after 5 s.
    f.workspace
        .valid
        .lock()
        .unwrap()
        .push(("u1".into(), "bad".into(), true));
    f.clock.advance(Duration::seconds(5));
    assert!(f.check.authenticate(&"u1".into(), "bad").is_ok());
    assert_eq!(f.asked(), 2);
}

#[test]
fn an_unreachable_rocket_chat_is_unavailable_and_nothing_is_cached() {
    let f = fixture(SessionCacheConfig::default());
    *f.workspace.down.lock().unwrap() = true;
    for _ in 0..2 {
        assert!(matches!(
            f.check.authenticate(&"u1".into(), "good"),
            Err(AuthError::Unavailable(_))
        ));
    }
    assert_eq!(f.asked(), 2);
    assert_eq!(f.check.cached(), (0, 0));
    *f.workspace.down.lock().unwrap() = false;
    assert!(f.check.authenticate(&"u1".into(), "good").is_ok());

    // Once cached, an outage does not matter until the entry expires.
    *f.workspace.down.lock().unwrap() = true;
    assert!(f.check.authenticate(&"u1".into(), "good").is_ok());
}

#[test]
fn an_inactive_user_is_refused_and_empty_credentials_are_not_asked_about() {
    let f = fixture(SessionCacheConfig::default());
    f.workspace
        .valid
        .lock()
        .unwrap()
        .push(("u2".into(), "tok".into(), false));
    assert!(matches!(
        f.check.authenticate(&"u2".into(), "tok"),
        Err(AuthError::NotLoggedIn)
    ));
    assert!(matches!(
        f.check.authenticate(&"".into(), "x"),
        Err(AuthError::NotLoggedIn)
    ));
    assert!(matches!(
        f.check.authenticate(&"u1".into(), ""),
        Err(AuthError::NotLoggedIn)
    ));
    assert_eq!(f.asked(), 1);
}

#[test]
fn a_flood_of_random_tokens_stays_within_capacity_and_keeps_valid_sessions() {
    let f = fixture(SessionCacheConfig {
        capacity: 50,
        ..SessionCacheConfig::default()
    });
    f.check.authenticate(&"u1".into(), "good").unwrap();
    for i in 0..1_000 {
        let _ = f.check.authenticate(&"u1".into(), &format!("random-{i}"));
    }
    let (valid, refused) = f.check.cached();
    assert_eq!(valid, 1);
    assert_eq!(refused, 50);
    let asked = f.asked();
    f.check.authenticate(&"u1".into(), "good").unwrap();
    assert_eq!(f.asked(), asked, "the valid session is still cached");
}

#[test]
fn forgetting_a_token_asks_rocket_chat_again() {
    let f = fixture(SessionCacheConfig::default());
    f.check.authenticate(&"u1".into(), "good").unwrap();
    f.check.forget(&"u1".into(), "good");
    assert_eq!(f.check.cached(), (0, 0));
    f.check.authenticate(&"u1".into(), "good").unwrap();
    assert_eq!(f.asked(), 2);
}

#[test]
fn a_mocked_remote_is_called_with_the_pair_as_given() {
    let mut sessions = MockRemoteSessions::new();
    sessions
        .expect_verify()
        .withf(|user, token| user == "u7" && token == "t7")
        .times(1)
        .returning(|_, _| Ok(Some(remote("u7", true))));
    let check = RemoteSessionCheck::new(
        Arc::new(sessions),
        profiles(Arc::default()),
        Arc::new(TestClock::default()),
        SessionCacheConfig::default(),
    );
    assert_eq!(check.authenticate(&"u7".into(), "t7").unwrap().id, "u7");
    assert_eq!(check.authenticate(&"u7".into(), "t7").unwrap().id, "u7");
}
