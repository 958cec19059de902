package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/leadline/leadline/internal/wait"
	"github.com/leadline/leadline/media"
	"github.com/leadline/leadline/simphone"
)

// Real softphones registering to Leadline as a salesperson: baresip and linphone-cli
// (Debian packages; scripts/deps.sh installs them). Each registers over UDP on
// loopback, is rung for a lead, answers, presses 1 (RFC 4733), and is bridged to the
// customer, a simulated phone behind the trunk; the audio is checked both ways.

// writeWAV writes pcm as an 8 kHz mono 16-bit WAV file.
func writeWAV(t *testing.T, path string, pcm []int16) {
	t.Helper()
	b := make([]byte, 44+2*len(pcm))
	copy(b, "RIFF")
	binary.LittleEndian.PutUint32(b[4:], uint32(36+2*len(pcm)))
	copy(b[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(b[16:], 16)
	binary.LittleEndian.PutUint16(b[20:], 1) // PCM
	binary.LittleEndian.PutUint16(b[22:], 1) // mono
	binary.LittleEndian.PutUint32(b[24:], 8000)
	binary.LittleEndian.PutUint32(b[28:], 16000)
	binary.LittleEndian.PutUint16(b[32:], 2)
	binary.LittleEndian.PutUint16(b[34:], 16)
	copy(b[36:], "data")
	binary.LittleEndian.PutUint32(b[40:], uint32(2*len(pcm)))
	for i, v := range pcm {
		binary.LittleEndian.PutUint16(b[44+2*i:], uint16(v))
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// freeTCPPort returns a TCP port nobody uses on 127.0.0.1 right now.
func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// process runs a softphone until the test ends, its output in a buffer shown when the
// test fails.
type process struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
}

func startProcess(t *testing.T, title string, cmd *exec.Cmd) *process {
	t.Helper()
	p := &process{cmd: cmd, out: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	showLogs(t, title+" output", p.out)
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", title, err)
	}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
	})
	return p
}

// baresip is a running baresip with its control port.
type baresip struct {
	*process
	dir  string
	ctrl string // host:port of ctrl_tcp
}

// baresipTLS is how baresip takes part over TLS with SRTP: the CA file it verifies
// Leadline's certificate with (sip_cafile) and its media encryption (the account's
// mediaenc: srtp, srtp-mand, srtp-mandf; baresip 1.0's srtp module).
type baresipTLS struct {
	ca       string
	mediaenc string
}

// startBaresip runs baresip with a config made for the test: an account for user at
// registrar that answers calls at once, sip_listen on a free loopback port, its
// microphone a WAV file of 700 Hz and what it hears dumped to WAV files (sndfile), no
// sound card, ctrl_tcp for commands; with sec, a CA file and SRTP.
func startBaresip(t *testing.T, registrar, transport, user, password, rtpPorts string, sec baresipTLS) *baresip {
	t.Helper()
	if _, err := exec.LookPath("baresip"); err != nil {
		t.Skip("baresip is not installed (apt-get install baresip, or scripts/deps.sh)")
	}
	dir := t.TempDir()
	mic := filepath.Join(dir, "mic.wav")
	writeWAV(t, mic, media.Beep(700, 60*time.Second))
	dumps := filepath.Join(dir, "dumps")
	if err := os.Mkdir(dumps, 0o755); err != nil {
		t.Fatal(err)
	}
	b := &baresip{dir: dir, ctrl: fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))}
	config := fmt.Sprintf(`poll_method epoll
sip_listen 127.0.0.1:%d
call_local_timeout 120
audio_player aubridge,nowhere
audio_source aufile,%s
audio_alert aubridge,nowhere
rtp_ports %s
module_path /usr/lib/baresip/modules
module g711.so
module aufile.so
module aubridge.so
module sndfile.so
module ctrl_tcp.so
module_tmp account.so
module_app menu.so
snd_path %s
ctrl_tcp_listen %s
`, freeSIPPort(t), mic, rtpPorts, dumps, b.ctrl)
	account := fmt.Sprintf("<sip:%s@%s;transport=%s>;auth_pass=%s;answermode=auto;regint=600;audio_codecs=pcmu", user, registrar, transport, password)
	if sec.ca != "" {
		config += "sip_cafile " + sec.ca + "\n"
	}
	if sec.mediaenc != "" {
		// Before account.so, which looks the account's mediaenc up.
		config = strings.Replace(config, "module_tmp account.so\n", "module srtp.so\nmodule_tmp account.so\n", 1)
		account += ";mediaenc=" + sec.mediaenc
	}
	accounts := account + "\n"
	for name, content := range map[string]string{"config": config, "accounts": accounts, "contacts": ""} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	b.process = startProcess(t, "baresip", exec.CommandContext(ctx, "baresip", "-f", dir, "-n", "127.0.0.1", "-s"))
	return b
}

// command sends one ctrl_tcp command (a JSON object in a netstring) and returns the
// answer.
func (b *baresip) command(t *testing.T, cmd, params string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", b.ctrl, 5*time.Second)
	if err != nil {
		t.Fatalf("baresip ctrl_tcp: %v", err)
	}
	defer c.Close()
	msg, _ := json.Marshal(map[string]string{"command": cmd, "params": params, "token": "t1"})
	if _, err := fmt.Fprintf(c, "%d:%s,", len(msg), msg); err != nil {
		t.Fatal(err)
	}
	// The answer, and any events, that come within a second.
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	b2, _ := io.ReadAll(c)
	return string(b2)
}

// heard returns the audio baresip decoded from its call (sndfile's dump), once the dump
// holds at least min samples: baresip finishes the file after it logs the call's end.
func (b *baresip) heard(t *testing.T, min int) []int16 {
	t.Helper()
	var pcm []int16
	wait.For(t, 10*time.Second, "baresip's dump of what it heard", func() bool {
		files, _ := filepath.Glob(filepath.Join(b.dir, "dumps", "dump-*-dec.wav"))
		if len(files) == 0 {
			return false
		}
		f, err := os.Open(files[0])
		if err != nil {
			return false
		}
		defer f.Close()
		got, rate, err := media.ReadWAV(f)
		if err != nil || rate != 8000 {
			return false
		}
		pcm = got
		return len(pcm) >= min
	})
	return pcm
}

// TestBaresip: baresip registers as sanne (over UDP, and over TCP), is rung for a
// lead, answers, presses 1 and is bridged to the customer: the customer hears
// baresip's 700 Hz, baresip hears the customer's 1500 Hz. Over TCP the INVITE comes
// down the connection baresip registered on.
func TestBaresip(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time calls; skipped with -short")
	}
	for i, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			testBaresip(t, transport, fmt.Sprintf("%d-%d", 26000+100*i, 26099+100*i))
		})
	}
}

func testBaresip(t *testing.T, transport, rtpPorts string) {
	carrier := newPhone(t, "carrier", simphone.Behaviour{Never: true})
	const customer = "+31612345678"
	carrier.Behave(customer, simphone.Behaviour{Ring: 300 * time.Millisecond, Tone: 1500, HangUp: 3 * time.Second})
	ta := startTestApp(t, appSpec{
		rtp:          rtpBaresip,
		trunk:        carrier.Addr().String(),
		people:       []person{{"sanne", "Sanne Mulder", "registered"}},
		sipPasswords: map[string]string{"sanne": sannePassword},
		flow:         "[sanne]",
		ring:         10 * time.Second,
		accept:       10 * time.Second,
	})
	bs := startBaresip(t, ta.ua.Addr().String(), transport, "sanne", sannePassword, rtpPorts, baresipTLS{})
	wait.For(t, 15*time.Second, "baresip to register", func() bool {
		v, ok := metricValue(ta.metrics(t), `leadline_registrations{dealer="jansen"}`)
		return ok && v == 1
	})

	id := ta.postLead(t, map[string]string{"name": "Eva Jansen", "phone": "06-12345678"})
	wait.For(t, 15*time.Second, "baresip to answer", func() bool {
		l := ta.lead(t, id)
		return len(l.Attempts) > 0 && !l.Attempts[0].AnsweredAt.IsZero()
	})
	t.Logf("baresip: %s", bs.command(t, "sndcode", "1"))
	l := ta.waitFinal(t, id, 30*time.Second)
	if l.Status != "completed" {
		t.Fatalf("status %q (%s); attempts %v", l.Status, l.Reason, summarize(l))
	}
	cc := callsTo(carrier, customer)
	if len(cc) != 1 {
		t.Fatalf("the customer got %d calls", len(cc))
	}
	cust := cc[0]
	wait.Closed(t, cust.Done(), 10*time.Second, "the customer's call to end")
	if h := cust.Heard(); len(h) < 8000 || simphone.Level(h[len(h)-8000:], 700) < 0.5 {
		t.Errorf("the customer did not hear baresip's 700 Hz (%d samples, level %.2f)", len(h), simphone.Level(h, 700))
	}
	wait.For(t, 10*time.Second, "baresip to hang up", func() bool {
		return strings.Contains(bs.out.String(), "terminated")
	})
	// baresip's SIP trace (-s) names each message's transport on the line before it.
	invite := regexp.MustCompile(`(?m)^\s*(UDP|TCP) 127\.0\.0\.1:` + strconv.Itoa(int(ta.ua.Addr().Port())) + ` -> \S+\s*\n\s*INVITE `)
	if m := invite.FindStringSubmatch(bs.out.String()); m == nil || !strings.EqualFold(m[1], transport) {
		t.Errorf("baresip's trace shows the INVITE coming over %v, want %s", m, transport)
	}
	heard := bs.heard(t, 8000) // its last second is what the test reads
	if simphone.Level(heard[len(heard)-8000:], 1500) < 0.5 {
		t.Errorf("baresip did not hear the customer's 1500 Hz at the end (%d samples)", len(heard))
	}
}

// linphone is a running linphonec, driven through its standard input.
type linphone struct {
	*process
	in  io.WriteCloser
	dir string
}

// startLinphone runs linphonec (auto-answering) with a configuration made for the test:
// SIP on a free UDP port, no TCP or TLS, and sound from and to WAV files instead of a
// sound card. linphonec 5.1 keeps the configuration file but takes its SIP port (and
// RTP ports) from it no more: the port is set with its "ports sip" command.
func startLinphone(t *testing.T, sipConf ...string) *linphone {
	t.Helper()
	if _, err := exec.LookPath("linphonec"); err != nil {
		t.Skip("linphonec is not installed (apt-get install linphone-cli, or scripts/deps.sh)")
	}
	dir := t.TempDir()
	// Without its database folder the core never leaves its start-up state, and
	// answers every call 503.
	if err := os.MkdirAll(filepath.Join(dir, ".local", "share", "linphone"), 0o700); err != nil {
		t.Fatal(err)
	}
	rc := filepath.Join(dir, "linphonerc")
	transports := "sip_tcp_port=-1\nsip_tls_port=-1"
	if len(sipConf) > 0 { // TLS only, on a free port ("ports sip" would drop it)
		transports = fmt.Sprintf("sip_port=0\nsip_tcp_port=0\nsip_tls_port=%d", freeSIPPort(t))
	}
	conf := `[sip]
` + transports + `
register_only_when_network_is_up=0
` + strings.Join(sipConf, "\n") + `
[sound]
echocancellation=0
`
	if err := os.WriteFile(rc, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, "linphonec", "-c", rc, "-a", "-d", "4")
	cmd.Env = append(os.Environ(), "HOME="+dir)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	l := &linphone{in: in, dir: dir}
	l.process = startProcess(t, "linphonec", cmd)
	t.Cleanup(func() { _, _ = io.WriteString(in, "quit\n"); in.Close() })
	if len(sipConf) == 0 {
		l.do(t, fmt.Sprintf("ports sip %d", freeSIPPort(t)))
	}
	return l
}

// do types a command line into linphonec.
func (l *linphone) do(t *testing.T, line string) {
	t.Helper()
	if _, err := io.WriteString(l.in, line+"\n"); err != nil {
		t.Fatalf("linphonec %q: %v", line, err)
	}
}

// TestLinphone: linphonec registers as sanne over UDP, auto-answers a lead's call,
// presses 1 (RFC 4733) and is bridged to the customer: the customer hears linphone's
// 700 Hz (a WAV file played instead of a microphone), linphone records the customer's
// 1500 Hz.
func TestLinphone(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time calls; skipped with -short")
	}
	carrier := newPhone(t, "carrier", simphone.Behaviour{Never: true})
	const customer = "+31612345678"
	carrier.Behave(customer, simphone.Behaviour{Ring: 300 * time.Millisecond, Tone: 1500, HangUp: 4 * time.Second})
	ta := startTestApp(t, appSpec{
		rtp:          rtpLinphone,
		trunk:        carrier.Addr().String(),
		people:       []person{{"sanne", "Sanne Mulder", "registered"}},
		sipPasswords: map[string]string{"sanne": sannePassword},
		flow:         "[sanne]",
		ring:         10 * time.Second,
		accept:       10 * time.Second,
	})
	lp := startLinphone(t)
	mic, heardFile := filepath.Join(lp.dir, "mic.wav"), filepath.Join(lp.dir, "heard.wav")
	writeWAV(t, mic, media.Beep(700, 60*time.Second))
	lp.do(t, "soundcard use files")
	lp.do(t, fmt.Sprintf("register sip:sanne@%s sip:%s %s", ta.ua.Addr().Addr(), ta.ua.Addr(), sannePassword))
	wait.For(t, 15*time.Second, "linphonec to register", func() bool {
		v, ok := metricValue(ta.metrics(t), `leadline_registrations{dealer="jansen"}`)
		return ok && v == 1
	})

	id := ta.postLead(t, map[string]string{"name": "Eva Jansen", "phone": "06-12345678"})
	wait.For(t, 15*time.Second, "linphonec to answer", func() bool {
		l := ta.lead(t, id)
		return len(l.Attempts) > 0 && !l.Attempts[0].AnsweredAt.IsZero()
	})
	lp.do(t, "play "+mic)
	lp.do(t, "record "+heardFile)
	lp.do(t, "1")
	l := ta.waitFinal(t, id, 30*time.Second)
	if l.Status != "completed" {
		t.Fatalf("status %q (%s); attempts %v", l.Status, l.Reason, summarize(l))
	}
	cc := callsTo(carrier, customer)
	if len(cc) != 1 {
		t.Fatalf("the customer got %d calls", len(cc))
	}
	wait.Closed(t, cc[0].Done(), 10*time.Second, "the customer's call to end")
	if h := cc[0].Heard(); len(h) < 8000 || simphone.Level(h[len(h)-8000:], 700) < 0.5 {
		t.Errorf("the customer did not hear linphone's 700 Hz (%d samples, level %.2f)", len(h), simphone.Level(h, 700))
	}
	var heard []int16
	wait.For(t, 10*time.Second, "linphone's recording", func() bool {
		f, err := os.Open(heardFile)
		if err != nil {
			return false
		}
		defer f.Close()
		pcm, rate, err := media.ReadWAV(f)
		if err != nil || rate != 8000 {
			return false
		}
		heard = pcm
		return len(heard) > 2*8000
	})
	if simphone.Level(heard[len(heard)-8000:], 1500) < 0.5 {
		t.Errorf("linphone did not record the customer's 1500 Hz at the end (%d samples)", len(heard))
	}
}
