//! The simulator's trace: deterministic for a seed, readable, and exact in
//! virtual time.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::time::Duration;

use gateway::{Config, ProfileName, Transport};
use sim::client::{self, ClientOptions, Received};
use sim::World;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

fn config() -> Config {
    Config::single_route(
        ProfileName::ApplicationGateway,
        "0.0.0.0:80".parse().unwrap(),
        vec!["b1:9001".into(), "b2:9001".into()],
        Some(gateway::config::Duration::from_secs(20)),
    )
}

/// Two backends, three clients with staggered starts exchanging a few
/// messages, then closing with their own codes.
fn chat_world(seed: u64) -> World {
    let mut world = World::new(seed).duration(Duration::from_secs(120));
    world.backend("b1", 9001, backend::Options::default());
    world.backend("b2", 9001, backend::Options::default());
    world.gateway("gateway", config());
    for (i, name) in ["c1", "c2", "c3"].into_iter().enumerate() {
        world.client(name, move |mut env| async move {
            // Start after the first probe round, which puts the backends in
            // the pool.
            tokio::time::sleep(Duration::from_secs(1 + i as u64)).await;
            let options = ClientOptions::new("chat.example", "/chat", &mut env.rng).subprotocols(&["chat"]);
            let mut c = client::connect(
                &env.transport,
                &env.name,
                &client::Target::plain("gateway", 80),
                &options,
                &env.trace,
            )
            .await?;
            for n in 0..3 {
                c.send(Message::text(format!("{} says {n}", env.name)))
                    .await
                    .map_err(|c| format!("closed {c}"))?;
                c.recv_data().await.map_err(|c| format!("closed {c}"))?;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            c.close(4000 + i as u16).await.map_err(|c| format!("closed {c}"))?;
            assert_eq!(c.recv().await, Received::Closed(4000 + i as u16));
            Ok(())
        });
    }
    world
}

#[test]
fn the_same_seed_gives_a_byte_identical_trace() {
    let first = chat_world(42).run().unwrap().render();
    let second = chat_world(42).run().unwrap().render();
    assert!(first.lines().count() > 40, "a substantial trace:\n{first}");
    assert_eq!(first, second);
}

#[test]
fn the_trace_reads_as_what_happened() {
    let trace = chat_world(42).run().unwrap().render();
    insta::assert_snapshot!(trace);
}

#[test]
fn different_seeds_draw_different_keys() {
    // The trace does not print keys, so compare what the backend saw.
    let key_for = |seed: u64| {
        let mut world = World::new(seed);
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let observed = seen.clone();
        world.backend(
            "b1",
            9001,
            backend::Options {
                observer: std::sync::Arc::new(move |e| observed.lock().unwrap().push(format!("{e:?}"))),
                ..backend::Options::default()
            },
        );
        world.gateway("gateway", config());
        world.client("c1", |mut env| async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let options = ClientOptions::new("h", "/", &mut env.rng);
            client::connect(
                &env.transport,
                &env.name,
                &client::Target::plain("gateway", 80),
                &options,
                &env.trace,
            )
            .await?;
            Ok(())
        });
        world.run().unwrap();
        let events = seen.lock().unwrap().clone();
        events.into_iter().find(|e| e.contains("sec-websocket-key")).unwrap()
    };
    assert_eq!(key_for(1), key_for(1));
    assert_ne!(key_for(1), key_for(2));
}

#[test]
fn slow_headers_get_408_exactly_at_the_header_read_timeout() {
    let mut world = World::new(7).tick(Duration::from_millis(1));
    world.backend("b1", 9001, backend::Options::default());
    world.backend("b2", 9001, backend::Options::default());
    let mut config = config();
    config.header_read_timeout = gateway::config::Duration::from_secs(10);
    world.gateway("gateway", config);
    world.client("slowloris", |env| async move {
        let mut stream = env.transport.connect("gateway", 80).await?;
        stream.write_all(b"GET / HTTP/1.1\r\nHost: h\r\n").await?;
        let sent = tokio::time::Instant::now();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        let waited = sent.elapsed();
        let text = String::from_utf8_lossy(&response);
        assert!(text.starts_with("HTTP/1.1 408"), "{text}");
        // The 10 s header timeout, plus the link latency between the
        // gateway's accept (where its deadline starts) and the client's
        // send, as this world's 1 ms ticks deliver it. Virtual time, so exact.
        assert_eq!(waited, Duration::from_millis(10_001), "answered at {waited:?}");
        Ok(())
    });
    world.run().unwrap();
}
