//! A real, throwaway PostgreSQL for the shared-queue tests: Debian's server binaries, a new
//! cluster under a temporary directory (`initdb` + `pg_ctl`, as the unprivileged `postgres`
//! user when the tests run as root), listening on a random port on 127.0.0.1 only, stopped
//! and deleted when dropped. No system service is involved.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The throwaway cluster's superuser password (TCP logins use SCRAM, as a real server does).
pub const SUPERUSER_PASSWORD: &str = "throwaway-cluster-pw";

/// A running throwaway cluster.
pub struct Pg {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
}

fn bin_dir() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("Debian's postgresql is installed (make deps)")
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    found.sort();
    found
        .pop()
        .expect("a PostgreSQL server in /usr/lib/postgresql/*/bin")
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Pg {
    /// Creates and starts a cluster.
    pub fn start() -> Pg {
        let dir = tempfile::Builder::new()
            .prefix("layers-pg-")
            .tempdir_in("/tmp")
            .unwrap();
        let pg = Pg {
            bin: bin_dir(),
            port: free_port(),
            dir,
        };
        if is_root() {
            let st = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(pg.dir.path())
                .status()
                .unwrap();
            assert!(st.success(), "chown the cluster dir to postgres");
        }
        // TCP logins need a password (as on a real server); the superuser's is a test value.
        let pwfile = pg.dir.path().join("pw");
        std::fs::write(&pwfile, SUPERUSER_PASSWORD).unwrap();
        if is_root() {
            Command::new("chown")
                .args(["postgres:postgres"])
                .arg(&pwfile)
                .status()
                .unwrap();
        }
        pg.run(
            "initdb",
            &[
                "-D",
                &pg.data().to_string_lossy(),
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                &format!("--pwfile={}", pwfile.display()),
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        pg.up();
        pg
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let exe = self.bin.join(tool);
        let mut cmd = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        let out = cmd.args(args).current_dir("/tmp").output().unwrap();
        assert!(
            out.status.success(),
            "{tool} {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn pg_ctl(&self, args: &[&str]) {
        let data = self.data().to_string_lossy().into_owned();
        let log = self.dir.path().join("server.log");
        let mut all = vec!["-D", &data, "-l"];
        let log = log.to_string_lossy().into_owned();
        all.push(&log);
        all.extend_from_slice(args);
        self.run("pg_ctl", &all);
    }

    /// Starts the server (again).
    pub fn up(&self) {
        let opts = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off -c max_connections=100",
            self.port,
            self.dir.path().display()
        );
        self.pg_ctl(&["-w", "-t", "60", "-o", &opts, "start"]);
    }

    /// Stops the server the way an operator's restart does (`-m fast`: sessions are cut).
    pub fn down(&self) {
        self.pg_ctl(&["-w", "-t", "60", "-m", "fast", "stop"]);
    }

    /// A URL for a fresh, empty database of this cluster.
    pub fn new_database(&self) -> String {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "queue_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let mut c = self.client("postgres");
        c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        self.url(&name)
    }

    /// `postgres://postgres:…@127.0.0.1:PORT/db`.
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgres://postgres:{SUPERUSER_PASSWORD}@127.0.0.1:{}/{db}",
            self.port
        )
    }

    /// A client on one database of the cluster (the tests' own view of the shared queue),
    /// over the cluster's Unix socket, so it works when TCP logins must use TLS.
    pub fn client(&self, db: &str) -> postgres::Client {
        postgres::Config::new()
            .host_path(self.dir.path())
            .port(self.port)
            .user("postgres")
            .dbname(db)
            .connect(postgres::NoTls)
            .unwrap()
    }

    /// From now on TCP logins must use TLS with `certs`' server certificate (`hostnossl` is
    /// rejected, so a connection that works is an encrypted one); restarts the server.
    pub fn require_tls(&self, certs: &Certs) {
        let data = self.data();
        std::fs::copy(&certs.server_crt, data.join("server.crt")).unwrap();
        std::fs::copy(&certs.server_key, data.join("server.key")).unwrap();
        let mut conf = std::fs::read_to_string(data.join("postgresql.conf")).unwrap();
        conf.push_str("\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n");
        std::fs::write(data.join("postgresql.conf"), conf).unwrap();
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\n\
             hostssl all all 127.0.0.1/32 scram-sha-256\n\
             hostssl all all ::1/128 scram-sha-256\n\
             hostnossl all all all reject\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            data.join("server.key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        if is_root() {
            for f in ["server.crt", "server.key", "postgresql.conf", "pg_hba.conf"] {
                let st = Command::new("chown")
                    .args(["postgres:postgres"])
                    .arg(data.join(f))
                    .status()
                    .unwrap();
                assert!(st.success());
            }
        }
        self.down();
        self.up();
    }

    /// The server's log so far (for a failing test's message).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        let data = self.data().to_string_lossy().into_owned();
        let exe = self.bin.join("pg_ctl");
        let mut cmd = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        let _ = cmd
            .args(["-D", &data, "-m", "immediate", "-w", "stop"])
            .current_dir("/tmp")
            .output();
    }
}

/// TLS material made with the `openssl` tool: a CA, a server certificate it signed for the
/// names in `san` (`DNS:localhost`, say), and a second CA that signed nothing here.
pub struct Certs {
    _dir: tempfile::TempDir,
    pub ca: PathBuf,
    pub other_ca: PathBuf,
    pub server_crt: PathBuf,
    pub server_key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl tool (make deps installs it)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Certs {
    /// A CA, a server certificate for `san`, and an unrelated CA.
    pub fn make(san: &str) -> Certs {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ];
        for ca in ["ca", "other-ca"] {
            let mut args = vec!["req", "-x509"];
            args.extend_from_slice(&ec);
            let (key, crt, subj) = (
                format!("{ca}.key"),
                format!("{ca}.crt"),
                format!("/CN=Layers test {ca}"),
            );
            args.extend_from_slice(&[
                "-keyout",
                &key,
                "-out",
                &crt,
                "-days",
                "2",
                "-subj",
                &subj,
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ]);
            openssl(d, &args);
        }
        let mut args = vec!["req"];
        args.extend_from_slice(&ec);
        args.extend_from_slice(&[
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=layers test database",
        ]);
        openssl(d, &args);
        std::fs::write(
            d.join("server.ext"),
            format!(
                "subjectAltName={san}\nbasicConstraints=CA:FALSE\n\
                 keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
            ),
        )
        .unwrap();
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.crt",
                "-days",
                "2",
                "-extfile",
                "server.ext",
            ],
        );
        Certs {
            ca: d.join("ca.crt"),
            other_ca: d.join("other-ca.crt"),
            server_crt: d.join("server.crt"),
            server_key: d.join("server.key"),
            _dir: dir,
        }
    }
}
