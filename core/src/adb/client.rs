//! The adb server's client: one TCP connection per request to the server (127.0.0.1:5037, or
//! `ANDROID_ADB_SERVER_PORT`), as adb's own client does. Device listing and tracking, commands on a
//! device with each argument passed whole, port forwards. Each call has a deadline.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::net::TcpStream;

use super::devices::{parse_devices, DeviceEntry};
use super::wire::{self, AdbError, ShellOutput};

pub const DEFAULT_PORT: u16 = 5037;

/// Where the adb server listens, and how long one call may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Server {
    pub addr: SocketAddr,
    pub timeout: Duration,
}

impl Server {
    pub fn on_port(port: u16) -> Server {
        Server { addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)), timeout: Duration::from_secs(10) }
    }

    /// The port adb's own tools use: `ANDROID_ADB_SERVER_PORT` when it is a port, else 5037.
    pub fn from_env_value(value: Option<&str>) -> Server {
        let port = value.and_then(|v| v.trim().parse::<u16>().ok()).filter(|p| *p > 0).unwrap_or(DEFAULT_PORT);
        Server::on_port(port)
    }

    pub fn from_env() -> Server {
        Server::from_env_value(std::env::var("ANDROID_ADB_SERVER_PORT").ok().as_deref())
    }

    async fn connect(&self) -> Result<TcpStream, AdbError> {
        match tokio::time::timeout(self.timeout, TcpStream::connect(self.addr)).await {
            Err(_) => Err(AdbError::Timeout(self.addr)),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => Err(AdbError::NoServer(self.addr)),
            Ok(Err(e)) => Err(e.into()),
            Ok(Ok(s)) => Ok(s),
        }
    }

    async fn within<T>(&self, f: impl std::future::Future<Output = Result<T, AdbError>>) -> Result<T, AdbError> {
        tokio::time::timeout(self.timeout, f).await.map_err(|_| AdbError::Timeout(self.addr))?
    }

    /// A connection on which the server said OKAY to `request`.
    async fn request(&self, request: &str) -> Result<TcpStream, AdbError> {
        let mut s = self.connect().await?;
        wire::send(&mut s, request).await?;
        wire::status(&mut s).await?;
        Ok(s)
    }

    /// A `host:` query answered by one string (the server closes after it).
    async fn query(&self, request: &str) -> Result<String, AdbError> {
        self.within(async { wire::read_string(&mut self.request(request).await?).await }).await
    }

    /// The server's protocol version (41 for current platform-tools).
    pub async fn version(&self) -> Result<u32, AdbError> {
        let v = self.query("host:version").await?;
        u32::from_str_radix(v.trim(), 16).map_err(|_| AdbError::Protocol(format!("version {v:?}")))
    }

    /// Every device the server knows, as `adb devices -l` lists them.
    pub async fn devices(&self) -> Result<Vec<DeviceEntry>, AdbError> {
        Ok(parse_devices(&self.query("host:devices-l").await?))
    }

    /// A connection on which the server sends the whole list again at every change.
    pub async fn track_devices(&self) -> Result<Tracker, AdbError> {
        let stream = self.within(self.request("host:track-devices-l")).await?;
        Ok(Tracker { stream })
    }

    /// A connection switched to `serial`'s transport.
    async fn transport(&self, serial: &str) -> Result<TcpStream, AdbError> {
        self.request(&format!("host:transport:{serial}")).await
    }

    /// Runs `argv` on the device through its shell, each argument quoted so that it arrives whole
    /// (adbd hands the line to `sh -c`). `shell,v2` (with the exit status) where the device has it,
    /// else the old `shell:` (output only).
    pub async fn shell(&self, serial: &str, argv: &[&str]) -> Result<ShellOutput, AdbError> {
        let line = wire::command_line(argv)?;
        self.within(async {
            let mut s = self.transport(serial).await?;
            wire::send(&mut s, &format!("shell,v2,raw:{line}")).await?;
            match wire::status(&mut s).await {
                Ok(()) => return wire::read_v2(&mut s, serial).await,
                // An adbd without shell v2 refuses the service: ask the old way.
                Err(AdbError::Failed(m)) if !m.contains("not found") && !m.contains("unauthorized") => {}
                Err(e) => return Err(e),
            }
            let mut s = self.transport(serial).await?;
            wire::send(&mut s, &format!("shell:{line}")).await?;
            wire::status(&mut s).await?;
            let out = wire::read_to_close(&mut s).await?;
            Ok(ShellOutput { stdout: String::from_utf8_lossy(&out).into_owned(), stderr: String::new(), exit: None })
        })
        .await
    }

    /// Forwards a free local TCP port (on 127.0.0.1, chosen by the server) to `remote` on the device
    /// (`localabstract:chrome_devtools_remote`); returns the port.
    pub async fn forward(&self, serial: &str, remote: &str) -> Result<u16, AdbError> {
        self.within(async {
            // The server's OKAY, the forward's OKAY, then the port it bound.
            let mut s = self.request(&format!("host-serial:{serial}:forward:tcp:0;{remote}")).await?;
            wire::status(&mut s).await?;
            let port = wire::read_string(&mut s).await?;
            port.trim().parse::<u16>().map_err(|_| AdbError::Protocol(format!("forwarded port {port:?}")))
        })
        .await
    }

    /// Removes the forward of local `port`.
    pub async fn kill_forward(&self, serial: &str, port: u16) -> Result<(), AdbError> {
        self.within(async {
            // The server's OKAY, then the removal's.
            let mut s = self.request(&format!("host-serial:{serial}:killforward:tcp:{port}")).await?;
            wire::status(&mut s).await
        })
        .await
    }
}

/// `host:track-devices-l`: the server pushes the whole list at once and after every change.
pub struct Tracker {
    stream: TcpStream,
}

impl Tracker {
    /// The next list; an error when the server goes away. Waits as long as nothing changes.
    pub async fn next(&mut self) -> Result<Vec<DeviceEntry>, AdbError> {
        let text = wire::read_string(&mut self.stream).await?;
        Ok(parse_devices(&text))
    }
}
