//! A connection's writer over TLS flushes the TLS layer after each batch: when the socket is
//! full, a write hands the TLS layer records it cannot pass on yet, and with nothing more to
//! send they would wait there until the next tick (15 s with OTP's default `net_ticktime`).
//! Our own TLS on both ends, with small socket buffers so the socket fills at once.

use std::time::Duration;

use dist::{ControlMessage, DistFlags, Incoming, Reader};
use etf::{Atom, Pid, Term};
use rotp_net::dist::{DistStream, DistTls, Outbox};
use tokio::io::AsyncReadExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_written_into_a_full_socket_arrives_whole_without_another_write() {
    let pki = harness::pki::TestPki::new("flush");
    let tls = DistTls::from_optfile(&pki.optfile("node")).expect("TLS options");
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket
        .bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    socket.listen(1).unwrap();
    socket.set_nonblocking(true).unwrap();
    let listener = tokio::net::TcpListener::from_std(socket.into()).unwrap();
    let addr = listener.local_addr().unwrap();
    let server_tls = tls.clone();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        server_tls.accept(tcp).await.unwrap()
    });
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    socket2::SockRef::from(&tcp)
        .set_send_buffer_size(4096)
        .unwrap();
    let client = tls.connect("localhost", tcp).await.unwrap();
    let mut server = server.await.unwrap();

    let outbox = std::sync::Arc::new(Outbox::new());
    let flags = DistFlags::DEFAULT;
    let writer = tokio::spawn(rotp_net::dist::run(
        DistStream::from(client),
        flags,
        Vec::new(),
        Duration::from_secs(600),
        dist::packet::DEFAULT_MAX_MESSAGE,
        outbox.clone(),
        |_| Ok(()),
    ));
    let to = Pid {
        node: Atom::from("peer@localhost"),
        id: 1,
        serial: 0,
        creation: 1,
    };
    let blob = Term::Binary(vec![7; 300_000].into());
    outbox
        .send(ControlMessage::Send { to, token: None }, Some(blob.clone()))
        .unwrap();
    // The socket fills while nobody reads; then everything is read, and nothing else is sent.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut reader = Reader::default().for_flags(flags);
    let mut buffer = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let arrived = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let n = server.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed");
            buffer.extend_from_slice(&chunk[..n]);
            while let Some((used, body)) = dist::packet::split_packet(&buffer, usize::MAX).unwrap()
            {
                let incoming = reader.packet(body).unwrap();
                buffer.drain(..used);
                if let Incoming::Message(m) = incoming {
                    return m.payload;
                }
            }
        }
    })
    .await;
    assert!(
        matches!(&arrived, Ok(Some(p)) if *p == blob),
        "the message never arrived whole"
    );
    writer.abort();
}
