//! The counting proxy: what it relays is what the server answered, and its counts are the
//! requests, rounds and connections a client really made.

use std::time::Duration;

use fakes::{CountingProxy, Reply, ScriptedServer, Tally};

fn agent(user_agent: &str) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .user_agent(user_agent)
        .build()
        .into()
}

fn server() -> ScriptedServer {
    ScriptedServer::start(|request| {
        Reply::new(
            200,
            "text/plain",
            format!("{} {}", request.method, request.url),
        )
    })
    .expect("server")
}

#[test]
fn sequential_requests_are_rounds_over_the_connections_opened() {
    let server = server();
    let tally = Tally::new();
    let proxy = CountingProxy::start(&server.url(), "api", &tally).expect("proxy");
    let client = agent("kit/1");
    for path in ["/a", "/b?x=1"] {
        let mut answer = client
            .get(&format!("{}{path}", proxy.url()))
            .call()
            .expect("answer");
        assert_eq!(answer.status().as_u16(), 200);
        let body = answer.body_mut().read_to_string().expect("body");
        assert_eq!(body, format!("GET {path}"), "the server's own answer");
    }
    let counted = tally.take();
    assert_eq!(counted.requests_to("api"), ["GET /a", "GET /b?x=1"]);
    assert_eq!(counted.rounds, 2);
    // The scripted server closes every connection after its answer: two connections.
    assert_eq!(counted.connections_to("api"), 2);
    assert_eq!(tally.take(), fakes::Counted::default(), "take starts again");
}

#[test]
fn requests_sent_at_once_are_one_round_and_other_agents_are_not_counted() {
    let (one, two) = (server(), server());
    let tally = Tally::new();
    tally.only_agent("kit/");
    tally.hold_answers(Duration::from_secs(1));
    let first = CountingProxy::start(&one.url(), "one", &tally).expect("proxy");
    let second = CountingProxy::start(&two.url(), "two", &tally).expect("proxy");
    std::thread::scope(|scope| {
        for url in [first.url(), second.url()] {
            scope.spawn(move || {
                agent("kit/1")
                    .post(&format!("{url}/at-once"))
                    .send("body")
                    .expect("answer");
            });
        }
    });
    // A delivery from elsewhere (another user agent) reaches the same proxy: not counted.
    agent("GitHub-Hookshot/fake")
        .get(&format!("{}/ping", first.url()))
        .call()
        .expect("answer");
    let counted = tally.take();
    let mut requests = counted.requests.clone();
    requests.sort();
    assert_eq!(requests, ["one POST /at-once", "two POST /at-once"]);
    assert_eq!(counted.rounds, 1, "{counted:?}");
    assert_eq!(counted.connections_to("one"), 1);
    assert_eq!(counted.connections_to("two"), 1);
}
