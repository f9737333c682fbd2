//! Test guest: a processor that tries to reach the network for every item through the raw
//! `wasi:sockets` interfaces — a TCP connect to config `target` (a listener the test owns), a
//! TCP listen, a UDP datagram to `target` and a name lookup. The host links those interfaces
//! with every use denied, so each attempt must fail; the item fails with kind `net.denied` and
//! a message saying what each attempt got, or with `net.open` if any attempt got through (the
//! test then fails).

use batch_sdk::{Error, ItemProcessor, Raw, Setup};
use serde::Deserialize;
use wasip2::sockets::instance_network::instance_network;
use wasip2::sockets::ip_name_lookup::resolve_addresses;
use wasip2::sockets::network::{IpAddressFamily, IpSocketAddress, Ipv4SocketAddress, Network};
use wasip2::sockets::tcp_create_socket::create_tcp_socket;
use wasip2::sockets::udp::OutgoingDatagram;
use wasip2::sockets::udp_create_socket::create_udp_socket;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// `127.0.0.1:PORT` of the test's listener.
    target: String,
}

/// The processor.
#[derive(Debug)]
pub struct SocketsProcessor {
    target: IpSocketAddress,
}

fn v4(port: u16, address: (u8, u8, u8, u8)) -> IpSocketAddress {
    IpSocketAddress::Ipv4(Ipv4SocketAddress { port, address })
}

type Attempt = Result<(), String>;

fn err(e: impl std::fmt::Debug) -> String {
    format!("{e:?}")
}

fn connect(net: &Network, to: IpSocketAddress) -> Attempt {
    let sock = create_tcp_socket(IpAddressFamily::Ipv4).map_err(err)?;
    sock.start_connect(net, to).map_err(err)?;
    sock.subscribe().block();
    sock.finish_connect().map(drop).map_err(err)
}

fn listen(net: &Network) -> Attempt {
    let sock = create_tcp_socket(IpAddressFamily::Ipv4).map_err(err)?;
    sock.start_bind(net, v4(0, (127, 0, 0, 1))).map_err(err)?;
    sock.subscribe().block();
    sock.finish_bind().map_err(err)?;
    sock.start_listen().map_err(err)?;
    sock.subscribe().block();
    sock.finish_listen().map_err(err)
}

fn udp(net: &Network, to: IpSocketAddress) -> Attempt {
    let sock = create_udp_socket(IpAddressFamily::Ipv4).map_err(err)?;
    sock.start_bind(net, v4(0, (127, 0, 0, 1))).map_err(err)?;
    sock.subscribe().block();
    sock.finish_bind().map_err(err)?;
    let (_incoming, outgoing) = sock.stream(Some(to)).map_err(err)?;
    outgoing.check_send().map_err(err)?;
    let datagram = OutgoingDatagram {
        data: b"leak".to_vec(),
        remote_address: None,
    };
    outgoing.send(&[datagram]).map(drop).map_err(err)
}

fn lookup(net: &Network) -> Attempt {
    let stream = resolve_addresses(net, "localhost").map_err(err)?;
    stream.subscribe().block();
    stream.resolve_next_address().map(drop).map_err(err)
}

impl ItemProcessor for SocketsProcessor {
    type In = Raw;
    type Out = Raw;

    fn init(setup: &Setup) -> Result<Self, Error> {
        let c: Config = setup.config()?;
        let bad = || Error::config(format!("`target` {} is not 127.0.0.1:PORT", c.target));
        let port = c
            .target
            .strip_prefix("127.0.0.1:")
            .and_then(|p| p.parse().ok())
            .ok_or_else(bad)?;
        Ok(SocketsProcessor {
            target: v4(port, (127, 0, 0, 1)),
        })
    }

    fn process(&mut self, _item: Raw) -> Result<Option<Raw>, Error> {
        let net = instance_network();
        let attempts = [
            ("connect", connect(&net, self.target)),
            ("listen", listen(&net)),
            ("udp", udp(&net, self.target)),
            ("lookup", lookup(&net)),
        ];
        let opened = attempts.iter().any(|(_, r)| r.is_ok());
        let report: Vec<String> = attempts
            .iter()
            .map(|(what, r)| match r {
                Ok(()) => format!("{what}: succeeded"),
                Err(e) => format!("{what}: {e}"),
            })
            .collect();
        let kind = if opened { "net.open" } else { "net.denied" };
        Err(Error::new(kind, report.join("; ")))
    }
}

batch_sdk::export_processor!(SocketsProcessor);
