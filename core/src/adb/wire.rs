//! The adb host protocol on the wire (the server on 127.0.0.1:5037, not the device's USB protocol):
//! a request is 4 hex digits of length and the text; the server answers `OKAY`, or `FAIL` with a
//! length-prefixed message; some answers carry a length-prefixed string; a `shell,v2` stream is
//! framed packets. Every read has a cap, so a broken or hostile server cannot grow memory.

use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The most any one answer may hold (a full `getprop` listing is ~60 KB).
pub const MAX_ANSWER: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum AdbError {
    /// Nothing listens there: no adb server runs.
    #[error("no adb server answers at {0}")]
    NoServer(SocketAddr),
    #[error("the adb server at {0} did not answer in time")]
    Timeout(SocketAddr),
    /// The server said FAIL: its message, e.g. "device unauthorized." or "device 'X' not found".
    #[error("adb: {0}")]
    Failed(String),
    /// The device went away while it was being asked something (unplugged mid-call).
    #[error("the device {0} went away during the call (unplugged?)")]
    Gone(String),
    #[error("adb connection: {0}")]
    Io(#[from] io::Error),
    #[error("unexpected answer from the adb server: {0}")]
    Protocol(String),
}

impl AdbError {
    /// The server's FAIL for a device it no longer has.
    pub fn is_device_gone(&self) -> bool {
        match self {
            AdbError::Gone(_) => true,
            AdbError::Failed(m) => m.contains("not found") || m.contains("no devices"),
            _ => false,
        }
    }
}

/// Sends one request: `%04x` length, then the text. Requests over 64 KiB cannot be framed.
pub async fn send<S: AsyncWrite + Unpin>(s: &mut S, request: &str) -> Result<(), AdbError> {
    if request.len() > 0xffff {
        return Err(AdbError::Protocol(format!("a request of {} bytes is too long to send", request.len())));
    }
    let mut buf = format!("{:04x}", request.len()).into_bytes();
    buf.extend_from_slice(request.as_bytes());
    s.write_all(&buf).await?;
    s.flush().await?;
    Ok(())
}

/// Reads `OKAY` (Ok) or `FAIL` + message (`AdbError::Failed`).
pub async fn status<S: AsyncRead + Unpin>(s: &mut S) -> Result<(), AdbError> {
    let mut word = [0u8; 4];
    s.read_exact(&mut word).await?;
    match &word {
        b"OKAY" => Ok(()),
        b"FAIL" => Err(AdbError::Failed(read_string(s).await?.trim_end().to_string())),
        other => Err(AdbError::Protocol(format!("expected OKAY or FAIL, got {:?}", String::from_utf8_lossy(other)))),
    }
}

/// Reads a length-prefixed string (4 hex digits, then that many bytes), as text.
pub async fn read_string<S: AsyncRead + Unpin>(s: &mut S) -> Result<String, AdbError> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).await?;
    let len = std::str::from_utf8(&len)
        .ok()
        .and_then(|t| usize::from_str_radix(t, 16).ok())
        .ok_or_else(|| AdbError::Protocol(format!("bad length {:?}", String::from_utf8_lossy(&len))))?;
    let mut data = vec![0u8; len];
    s.read_exact(&mut data).await?;
    Ok(String::from_utf8_lossy(&data).into_owned())
}

/// Reads until the server closes, at most `MAX_ANSWER` bytes (the rest is an error).
pub async fn read_to_close<S: AsyncRead + Unpin>(s: &mut S) -> Result<Vec<u8>, AdbError> {
    let mut out = Vec::new();
    let n = s.take(MAX_ANSWER as u64 + 1).read_to_end(&mut out).await?;
    if n > MAX_ANSWER {
        return Err(AdbError::Protocol(format!("an answer over {MAX_ANSWER} bytes")));
    }
    Ok(out)
}

/// What a command run on the device printed, and its exit status when the protocol carries it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShellOutput {
    pub stdout: String,
    pub stderr: String,
    /// `None` over the old `shell:` service, which reports no exit status.
    pub exit: Option<u8>,
}

impl ShellOutput {
    /// Both streams, for messages.
    pub fn text(&self) -> String {
        let mut t = self.stdout.trim().to_string();
        if !self.stderr.trim().is_empty() {
            if !t.is_empty() {
                t.push('\n');
            }
            t.push_str(self.stderr.trim());
        }
        t
    }
}

/// `shell,v2` packet ids (adb's shell_protocol.h).
pub const V2_STDIN: u8 = 0;
pub const V2_STDOUT: u8 = 1;
pub const V2_STDERR: u8 = 2;
pub const V2_EXIT: u8 = 3;
pub const V2_CLOSE_STDIN: u8 = 4;

/// One `shell,v2` packet: id, 32-bit little-endian length, data.
pub fn v2_packet(id: u8, data: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(5 + data.len());
    p.push(id);
    p.extend_from_slice(&(data.len() as u32).to_le_bytes());
    p.extend_from_slice(data);
    p
}

/// Reads `shell,v2` packets up to the exit packet. A stream that ends before it means the device
/// went away (`serial` names it).
pub async fn read_v2<S: AsyncRead + Unpin>(s: &mut S, serial: &str) -> Result<ShellOutput, AdbError> {
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let cut = |e: io::Error| match e.kind() {
        io::ErrorKind::UnexpectedEof => AdbError::Gone(serial.to_string()),
        _ => e.into(),
    };
    loop {
        let mut head = [0u8; 5];
        s.read_exact(&mut head).await.map_err(cut)?;
        let len = u32::from_le_bytes([head[1], head[2], head[3], head[4]]) as usize;
        if stdout.len() + stderr.len() + len > MAX_ANSWER {
            return Err(AdbError::Protocol(format!("a command's output over {MAX_ANSWER} bytes")));
        }
        let mut data = vec![0u8; len];
        s.read_exact(&mut data).await.map_err(cut)?;
        match head[0] {
            V2_STDOUT => stdout.extend_from_slice(&data),
            V2_STDERR => stderr.extend_from_slice(&data),
            V2_EXIT => {
                return Ok(ShellOutput {
                    stdout: String::from_utf8_lossy(&stdout).into_owned(),
                    stderr: String::from_utf8_lossy(&stderr).into_owned(),
                    exit: Some(data.first().copied().unwrap_or(0)),
                })
            }
            // Window-size and stdin packets never come from the device; skip whatever else does.
            _ => {}
        }
    }
}

/// Quotes one argument for the device's `/system/bin/sh` (mksh; adbd runs every `shell` and `exec`
/// command through `sh -c`), so that it arrives as one argument whatever it holds: single quotes
/// around it, each `'` written as `'\''`. Plain words are left as they are, for readable logs.
pub fn sh_quote(arg: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c);
    if !arg.is_empty() && arg.chars().all(plain) {
        return arg.to_string();
    }
    format!("'{}'", arg.replace('\'', r"'\''"))
}

/// A command line of `argv`, each argument quoted by [`sh_quote`]. NUL cannot be passed at all.
pub fn command_line(argv: &[&str]) -> Result<String, AdbError> {
    if let Some(bad) = argv.iter().find(|a| a.contains('\0')) {
        return Err(AdbError::Protocol(format!("an argument holds a NUL byte: {bad:?}")));
    }
    Ok(argv.iter().map(|a| sh_quote(a)).collect::<Vec<_>>().join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_keeps_each_argument_whole() {
        assert_eq!(sh_quote("am"), "am");
        assert_eq!(sh_quote("android.intent.action.VIEW"), "android.intent.action.VIEW");
        assert_eq!(sh_quote("https://192.168.1.20:48322/"), "https://192.168.1.20:48322/");
        assert_eq!(sh_quote(""), "''");
        assert_eq!(sh_quote("a b"), "'a b'");
        assert_eq!(sh_quote("a&b;c"), "'a&b;c'");
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
        assert_eq!(sh_quote("$(reboot)`x`"), "'$(reboot)`x`'");
        assert_eq!(command_line(&["am", "start", "-d", "x y"]).unwrap(), "am start -d 'x y'");
        assert!(command_line(&["a\0b"]).is_err());
    }

    #[tokio::test]
    async fn framing_and_status() {
        let mut out = Vec::new();
        send(&mut out, "host:version").await.unwrap();
        assert_eq!(out, b"000chost:version");
        let mut ok: &[u8] = b"OKAY0004002a";
        status(&mut ok).await.unwrap();
        assert_eq!(read_string(&mut ok).await.unwrap(), "002a");
        let mut fail: &[u8] = b"FAIL0014device 'x' not found";
        let e = status(&mut fail).await.unwrap_err();
        assert!(e.is_device_gone(), "{e}");
        let mut junk: &[u8] = b"HTTP/1.1";
        assert!(matches!(status(&mut junk).await, Err(AdbError::Protocol(_))));
        let mut bad_len: &[u8] = b"OKAYzzzz";
        status(&mut bad_len).await.unwrap();
        assert!(matches!(read_string(&mut bad_len).await, Err(AdbError::Protocol(_))));
    }

    #[tokio::test]
    async fn v2_stream_to_its_exit_and_a_cut_stream() {
        let mut s = Vec::new();
        s.extend(v2_packet(V2_STDOUT, b"Quest "));
        s.extend(v2_packet(V2_STDERR, b"warn"));
        s.extend(v2_packet(V2_STDOUT, b"3\n"));
        s.extend(v2_packet(V2_EXIT, &[0]));
        let out = read_v2(&mut s.as_slice(), "S").await.unwrap();
        assert_eq!(out, ShellOutput { stdout: "Quest 3\n".into(), stderr: "warn".into(), exit: Some(0) });
        let cut = v2_packet(V2_STDOUT, b"Quest");
        assert!(matches!(read_v2(&mut cut.as_slice(), "S").await, Err(AdbError::Gone(s)) if s == "S"));
        // A length beyond the cap is refused before anything is allocated.
        let mut huge = vec![V2_STDOUT];
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(read_v2(&mut huge.as_slice(), "S").await, Err(AdbError::Protocol(_))));
    }
}
