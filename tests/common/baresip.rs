//! A baresip desk phone as a seat: registers with digest auth, answers
//! by itself, plays a WAV as its microphone and speaks RTCP.

use super::*;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A baresip desk phone registered as a seat: auto-answers and plays a WAV
/// file as its microphone. Killed on drop.
pub struct Baresip {
    child: Child,
    dir: tempfile::TempDir,
}

impl Baresip {
    pub fn start(h: &Hotline, ext: &str, ip: &str, mic: &Path) -> Baresip {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port_on(ip);
        let rtp = free_udp_range(8);
        let config = format!(
            "sip_listen\t\t{ip}:{port}\n\
             net_interface\t\t{ip}\n\
             sip_trans_def\t\tudp\n\
             audio_player\t\taubridge,nil\n\
             audio_alert\t\taubridge,nil\n\
             audio_source\t\taufile,{mic}\n\
             rtp_ports\t\t{}-{}\n\
             module_path\t\t/usr/lib/baresip/modules\n\
             module\t\t\tg711.so\n\
             module\t\t\taufile.so\n\
             module\t\t\taubridge.so\n\
             module_app\t\taccount.so\n\
             module_app\t\tmenu.so\n",
            rtp.0,
            rtp.1,
            mic = mic.display()
        );
        std::fs::write(dir.path().join("config"), config).unwrap();
        std::fs::write(
            dir.path().join("accounts"),
            format!("<sip:{ext}@{}>;auth_pass=demo-{ext};regint=3600;answermode=auto;audio_codecs=PCMA,PCMU\n", h.phones),
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join("baresip.log")).unwrap();
        let child = Command::new("baresip")
            .arg("-f")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("baresip is installed (apt-get install baresip-core)");
        let b = Baresip { child, dir };
        h.wait_for(
            &format!("baresip registered as {ext}"),
            Duration::from_secs(10),
            |h| {
                h.seat_state(ext)["registrations"]
                    .as_array()
                    .is_some_and(|r| !r.is_empty())
            },
        );
        b
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("baresip.log")).unwrap_or_default()
    }
}

impl Drop for Baresip {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let config =
                std::fs::read_to_string(self.dir.path().join("config")).unwrap_or_default();
            let accounts =
                std::fs::read_to_string(self.dir.path().join("accounts")).unwrap_or_default();
            eprintln!(
                "--- baresip config ---\n{config}{accounts}--- baresip log ---\n{}",
                tail(&self.log(), 60)
            );
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
