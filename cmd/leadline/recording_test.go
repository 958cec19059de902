package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/leadline/leadline/internal/wait"
	"github.com/leadline/leadline/media"
	"github.com/leadline/leadline/recording"
	"github.com/leadline/leadline/simphone"
	"github.com/leadline/leadline/webhook/webhooktest"
)

// Noise seeds of the recorded phones: each says its own noise, so a channel of the
// recording can be matched against what one phone sent, sample by sample.
const (
	salesNoise    = 0x5a1e5
	customerNoise = 0xc057
)

// recordingCall runs one lead whose salesperson (noise, presses 1 after 2 s) is bridged
// to a customer (PCMA, noise) who hangs up talkFor after answering, for a dealer whose
// recording section is rec, and returns the test app, the lead id and the calls.
func recordingCall(t *testing.T, rtp, rec string, customer simphone.Behaviour) (*testApp, string, *simphone.Call, *simphone.Call, string) {
	t.Helper()
	sales := newPhone(t, "piet", simphone.Behaviour{Ring: 500 * time.Millisecond, Noise: salesNoise, Key: '1', KeyAfter: 2 * time.Second})
	carrier := newPhone(t, "carrier", simphone.Behaviour{Never: true})
	const number = "+31612345678"
	carrier.Behave(number, customer)
	dir := t.TempDir()
	ta := startTestApp(t, appSpec{
		rtp:         rtp,
		trunk:       carrier.Addr().String(),
		people:      []person{{"piet", "Piet de Vries", sales.URI()}},
		flow:        "[piet]",
		accept:      5 * time.Second,
		dealerExtra: "    recording: " + rec + "\n",
		extra:       fmt.Sprintf("recordings: %q", "file://"+dir),
	})
	id := ta.postLead(t, map[string]string{"name": "Eva Jansen", "phone": "06-12345678"})
	l := ta.waitFinal(t, id, 60*time.Second)
	if l.Status != "completed" {
		t.Fatalf("status %q (%s), want completed; attempts %v", l.Status, l.Reason, summarize(l))
	}
	sc, cc := sales.Calls(), callsTo(carrier, number)
	if len(sc) != 1 || len(cc) != 1 {
		t.Fatalf("salesperson got %d calls, customer %d; want 1 each", len(sc), len(cc))
	}
	wait.Closed(t, sc[0].Done(), 5*time.Second, "the salesperson's call to end")
	return ta, id, sc[0], cc[0], filepath.Join(dir, testDealer, id+".wav")
}

// TestRecordingChannels: a dealer that records with consent announce. The customer
// hears the notice before the salesperson; the bridged call is in a two-channel WAV,
// the salesperson's audio on the left and the customer's on the right, each matching
// what that phone sent from the bridge on and nothing from before it.
func TestRecordingChannels(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time calls; skipped with -short")
	}
	_, _, agent, cust, path := recordingCall(t, "26000-26099",
		`{enabled: true, consent: announce, notice: "This call is recorded."}`,
		simphone.Behaviour{Ring: 300 * time.Millisecond, Codec: media.PCMA, Noise: customerNoise, HangUp: 7 * time.Second})

	left, right := readRecording(t, path)
	secs := float64(len(left)) / 8000
	t.Logf("recording: %.2f s, %s", secs, path)
	// The customer talked 7 s from answering, the notice (a second or two)
	// first: the recording holds what followed.
	if secs < 1 || secs > 7 {
		t.Fatalf("recording is %.2f s; want the bridged part of a 7 s call (1-7 s)", secs)
	}

	salesSent, custSent := simphone.Noise(salesNoise, 8000*30), simphone.Noise(customerNoise, 8000*30)
	const skip = 800 // 0.1 s in: the first frame may be partly silent
	lagL, corrL := bestMatch(left[skip:], salesSent)
	lagR, corrR := bestMatch(right[skip:], custSent)
	_, crossL := bestMatch(left[skip:], custSent)
	_, crossR := bestMatch(right[skip:], salesSent)
	t.Logf("left: salesperson's audio from %.2f s after answer (correlation %.3f; with the customer's %.3f)", float64(lagL-skip)/8000, corrL, crossL)
	t.Logf("right: customer's audio from %.2f s after answer (correlation %.3f; with the salesperson's %.3f)", float64(lagR-skip)/8000, corrR, crossR)
	if crossL > 0.3 || crossR > 0.3 {
		t.Errorf("channels match the wrong phone: left with the customer %.3f, right with the salesperson %.3f", crossL, crossR)
	}
	// Nothing from before the bridge: the salesperson pressed 1 two seconds after
	// answering (the whisper played meanwhile), the customer heard the notice first.
	if got := float64(lagL-skip) / 8000; got < 2 {
		t.Errorf("the left channel starts with the salesperson's audio of %.2f s after answering; before the bridge (pressed 1 at 2 s)", got)
	}
	if got := float64(lagR-skip) / 8000; got < 0.5 {
		t.Errorf("the right channel starts with the customer's audio of %.2f s after answering; the notice was playing then", got)
	}
	// Across the whole file each channel matches its phone at that one offset, 0.1 s at
	// a time: no drift between the channels, nothing of the other phone. A loaded
	// machine may deliver a packet too late for its place (left silent): most windows,
	// not all, must match.
	for _, c := range []struct {
		name string
		pcm  []int16
		sent []int16
		lag  int
	}{{"left", left, salesSent, lagL - skip}, {"right", right, custSent, lagR - skip}} {
		windows, matched := 0, 0
		for at := 0; at+800 <= len(c.pcm); at += 800 {
			windows++
			if ncc(c.pcm[at:at+800], c.sent[c.lag+at:c.lag+at+800]) > 0.9 {
				matched++
			}
		}
		t.Logf("%s: %d of %d windows match", c.name, matched, windows)
		if matched*4 < windows*3 {
			t.Errorf("%s channel: %d of %d 0.1 s windows match the phone's audio; want at least three quarters", c.name, matched, windows)
		}
	}

	// Announce: the customer heard the notice before the salesperson's audio.
	heard := cust.Heard()
	if len(heard) < 8000 {
		t.Fatalf("the customer heard %d samples", len(heard))
	}
	if r := rms(heard[:4000]); r < 200 {
		t.Errorf("the customer's first half second: RMS %.0f; want the notice", r)
	}
	if _, c := bestMatch(heard[:4000], salesSent); c > 0.3 {
		t.Errorf("the customer's first half second matches the salesperson (%.3f); want the notice first", c)
	}
	if _, c := bestMatch(heard[len(heard)-4000:], salesSent); c < 0.9 {
		t.Errorf("the customer's last half second: correlation with the salesperson %.3f; want the bridged call", c)
	}
	_ = agent
}

// readRecording reads a recording's two channels with the recording package's header
// reader, checking its format and that its sizes are final.
func readRecording(t *testing.T, path string) (left, right []int16) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("recording: %v", err)
	}
	defer f.Close()
	st, _ := f.Stat()
	h, err := recording.ReadHeader(f, st.Size())
	if err != nil {
		t.Fatalf("recording %s: %v", path, err)
	}
	if h.Format != 1 || h.Channels != 2 || h.Rate != 8000 || h.Bits != 16 {
		t.Fatalf("recording format %+v; want PCM, 2 channels, 8000 Hz, 16 bits", h)
	}
	if int64(h.DataSize) != st.Size()-h.DataOffset || int64(h.RIFFSize) != st.Size()-8 {
		t.Fatalf("recording sizes: data %d, riff %d for a %d-byte file: not finished", h.DataSize, h.RIFFSize, st.Size())
	}
	b := make([]byte, h.DataSize)
	if _, err := f.ReadAt(b, h.DataOffset); err != nil {
		t.Fatal(err)
	}
	for i := 0; i+4 <= len(b); i += 4 {
		left = append(left, int16(binary.LittleEndian.Uint16(b[i:])))
		right = append(right, int16(binary.LittleEndian.Uint16(b[i+2:])))
	}
	return left, right
}

// bestMatch finds where x occurs in sent: the offset whose normalised correlation with
// x is highest, and that correlation. It looks at 160 samples of x for every offset,
// then scores the best offset over all of x.
func bestMatch(x, sent []int16) (lag int, corr float64) {
	const probe = 160
	if len(x) < probe || len(sent) < len(x) {
		return 0, 0
	}
	best, bestLag := math.Inf(-1), 0
	for l := 0; l+len(x) <= len(sent); l++ {
		if c := ncc(x[:probe], sent[l:l+probe]); c > best {
			best, bestLag = c, l
		}
	}
	return bestLag, ncc(x, sent[bestLag:bestLag+len(x)])
}

// ncc is the normalised correlation of a and b (same length): 1 for the same signal.
func ncc(a, b []int16) float64 {
	var ab, aa, bb float64
	for i := range a {
		x, y := float64(a[i]), float64(b[i])
		ab += x * y
		aa += x * x
		bb += y * y
	}
	if aa == 0 || bb == 0 {
		return 0
	}
	return ab / math.Sqrt(aa*bb)
}

// TestRecordingConsentAsk: with consent ask the customer is asked to press 1; a
// customer who presses nothing is not recorded (the call is bridged all the same), one
// who presses 1 is.
func TestRecordingConsentAsk(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time calls; skipped with -short")
	}
	const rec = `{enabled: true, consent: ask, notice: "Recorded."}`
	t.Run("no key", func(t *testing.T) {
		_, _, _, cust, path := recordingCall(t, "26100-26199", rec,
			simphone.Behaviour{Ring: 300 * time.Millisecond, Noise: customerNoise, HangUp: 12 * time.Second})
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Errorf("a customer who pressed nothing was recorded: %s (%v)", path, err)
		}
		if _, err := os.Stat(filepath.Dir(path)); !os.IsNotExist(err) {
			t.Errorf("the recordings directory holds something for the dealer: %v", err)
		}
		// Bridged all the same: the customer heard the salesperson at the end.
		heard := cust.Heard()
		if _, c := bestMatch(heard[len(heard)-4000:], simphone.Noise(salesNoise, 8000*30)); c < 0.9 {
			t.Errorf("the customer's last half second: correlation with the salesperson %.3f; want the bridged call", c)
		}
	})
	t.Run("pressed 1", func(t *testing.T) {
		_, _, _, _, path := recordingCall(t, "26200-26299", rec,
			simphone.Behaviour{Ring: 300 * time.Millisecond, Noise: customerNoise, Key: '1', KeyAfter: time.Second, HangUp: 6 * time.Second})
		left, right := readRecording(t, path)
		t.Logf("recording: %.2f s", float64(len(left))/8000)
		if len(left) < 8000 {
			t.Fatalf("recording is %d frames; want the bridged call", len(left))
		}
		if _, c := bestMatch(right[800:], simphone.Noise(customerNoise, 8000*30)); c < 0.9 {
			t.Errorf("right channel: correlation with the customer %.3f", c)
		}
	})
}

// TestRecordingAPI: the lead shows its recording; GET serves the WAV (ranges too); the
// retention job, its clock moved past the expiry, deletes it and the lead says so;
// DELETE erases another lead's recording.
func TestRecordingAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time calls; skipped with -short")
	}
	ta, id, _, _, path := recordingCall(t, "26300-26399", `{enabled: true, consent: announce, notice: "Recorded.", retention: 30d}`,
		simphone.Behaviour{Ring: 300 * time.Millisecond, Noise: customerNoise, HangUp: 5 * time.Second})
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var l struct {
		Recording *struct {
			DurationSeconds float64 `json:"duration_seconds"`
			Bytes           int64   `json:"bytes"`
			ExpiresAt       string  `json:"expires_at"`
			URL             string  `json:"url"`
			DeletedReason   string  `json:"deleted_reason"`
		} `json:"recording"`
		ConnectedAt string `json:"connected_at"`
	}
	ta.leadAs(t, id, &l)
	if l.Recording == nil || l.Recording.Bytes != int64(len(file)) || l.Recording.DurationSeconds*32000+44 < float64(len(file))-32 ||
		l.Recording.URL != "/v1/leads/"+id+"/recording" {
		t.Fatalf("lead's recording %+v; the file has %d bytes", l.Recording, len(file))
	}
	expires, err := time.Parse(time.RFC3339, l.Recording.ExpiresAt)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("recording: %.2f s, %d bytes, expires %s", l.Recording.DurationSeconds, l.Recording.Bytes, l.Recording.ExpiresAt)

	get := func(method, key string, h map[string]string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, ta.base+"/v1/leads/"+id+"/recording", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		for k, v := range h {
			req.Header.Set(k, v)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, b
	}
	res, body := get(http.MethodGet, testKey, nil)
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "audio/wav" || !bytes.Equal(body, file) {
		t.Fatalf("GET recording: %d %s, %d bytes (file %d)", res.StatusCode, res.Header.Get("Content-Type"), len(body), len(file))
	}
	res, body = get(http.MethodGet, testKey, map[string]string{"Range": "bytes=44-99"})
	if res.StatusCode != http.StatusPartialContent || !bytes.Equal(body, file[44:100]) {
		t.Fatalf("GET recording, range 44-99: %d, %d bytes", res.StatusCode, len(body))
	}
	if res, _ := get(http.MethodGet, "wrong-key", nil); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET recording with a wrong key: %d", res.StatusCode)
	}

	// Retention: a day before the expiry nothing goes; at it, the file and the lead say so.
	lib := *ta.lib
	lib.Now = func() time.Time { return expires.Add(-24 * time.Hour) }
	if n, err := lib.Expire(t.Context()); err != nil || n != 0 {
		t.Fatalf("Expire a day early: %d, %v", n, err)
	}
	lib.Now = func() time.Time { return expires }
	if n, err := lib.Expire(t.Context()); err != nil || n != 1 {
		t.Fatalf("Expire at expiry: %d, %v; want 1", n, err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("the expired recording's file is still there: %v", err)
	}
	l.Recording = nil
	ta.leadAs(t, id, &l)
	if l.Recording == nil || l.Recording.DeletedReason != "retention" || l.Recording.URL != "" {
		t.Errorf("lead's recording after expiry: %+v", l.Recording)
	}
	if res, body := get(http.MethodGet, testKey, nil); res.StatusCode != 404 || !bytes.Contains(body, []byte("retention")) {
		t.Errorf("GET an expired recording: %d %s", res.StatusCode, body)
	}
	if res, _ := get(http.MethodDelete, testKey, nil); res.StatusCode != 404 {
		t.Errorf("DELETE an expired recording: %d; want 404", res.StatusCode)
	}
}

// TestRecordingErasure: DELETE /v1/leads/{id}/recording removes the file; the lead
// says it was erased.
func TestRecordingErasure(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time calls; skipped with -short")
	}
	ta, id, _, _, path := recordingCall(t, "26400-26499", `{enabled: true, notice: "Recorded."}`,
		simphone.Behaviour{Ring: 300 * time.Millisecond, Noise: customerNoise, HangUp: 4 * time.Second})
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodDelete, ta.base+"/v1/leads/"+id+"/recording", nil)
	req.Header.Set("Authorization", "Bearer "+testKey)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE recording: %d", res.StatusCode)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("the erased recording's file is still there: %v", err)
	}
	var l struct {
		Recording *struct {
			DeletedReason string `json:"deleted_reason"`
			DeletedAt     string `json:"deleted_at"`
		} `json:"recording"`
	}
	ta.leadAs(t, id, &l)
	if l.Recording == nil || l.Recording.DeletedReason != "erasure" || l.Recording.DeletedAt == "" {
		t.Errorf("lead's recording after erasure: %+v", l.Recording)
	}
	// The metrics saw the recording written and erased.
	page := ta.metrics(t)
	for series, want := range map[string]float64{
		"leadline_recordings_written_total":                     1,
		`leadline_recordings_deleted_total{reason="erasure"}`:   1,
		`leadline_recordings_deleted_total{reason="retention"}`: 0,
	} {
		if v, ok := metricValue(page, series); !ok || v != want {
			t.Errorf("%s = %v (exposed %v), want %v", series, v, ok, want)
		}
	}
	if v, _ := metricValue(page, "leadline_recording_bytes_total"); v < 44 {
		t.Errorf("leadline_recording_bytes_total = %v, want at least a WAV header", v)
	}
}

// TestRecordingWebhookLink: the webhook of a recorded lead's completion carries the
// recording, with its link, as the lead shows it.
func TestRecordingWebhookLink(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time calls; skipped with -short")
	}
	r := webhooktest.NewReceiver(t, nil, hookSecret)
	piet := newPhone(t, "piet", simphone.Behaviour{Ring: 200 * time.Millisecond, Noise: salesNoise, Key: '1', KeyAfter: time.Second})
	owner := newPhone(t, "owner", simphone.Behaviour{Never: true})
	carrier := newPhone(t, "carrier", simphone.Behaviour{Never: true})
	carrier.Behave("+31612345678", simphone.Behaviour{Ring: 200 * time.Millisecond, Noise: customerNoise, HangUp: 3 * time.Second})
	spec := hookSpec(r.URL, "", []person{{"piet", "Piet", piet.URI()}, {"owner", "Jan", owner.URI()}}, "lead.completed")
	spec.rtp = "26800-26899"
	spec.trunk = carrier.Addr().String()
	spec.extra += fmt.Sprintf("\nrecordings: %q", "file://"+t.TempDir())
	spec.dealerExtra += "\n    recording: {enabled: true, notice: \"Recorded.\"}\n"
	ta := startTestApp(t, spec)
	id := ta.postLead(t, map[string]string{"name": "Eva Jansen", "phone": "06-12345678"})
	if l := ta.waitFinal(t, id, 60*time.Second); l.Status != "completed" {
		t.Fatalf("lead %s (%s), want completed", l.Status, l.Reason)
	}
	var reqs []webhooktest.Request
	wait.For(t, 30*time.Second, "the lead.completed webhook delivered", func() bool {
		reqs = r.Requests()
		return len(webhooktest.Answered(reqs, webhooktest.Delivered)) >= 1
	})
	webhooktest.CheckVerified(t, reqs)
	var body struct {
		Type string `json:"type"`
		Data struct {
			ID        string `json:"id"`
			Recording *struct {
				DurationSeconds float64 `json:"duration_seconds"`
				Bytes           int64   `json:"bytes"`
				URL             string  `json:"url"`
			} `json:"recording"`
		} `json:"data"`
	}
	if err := json.Unmarshal(reqs[0].Body, &body); err != nil {
		t.Fatal(err)
	}
	rec := body.Data.Recording
	if body.Type != "lead.completed" || body.Data.ID != id || rec == nil || rec.URL != "/v1/leads/"+id+"/recording" || rec.Bytes <= 44 || rec.DurationSeconds <= 0 {
		t.Fatalf("webhook %s of lead %s carries recording %+v; want the finished recording's link", body.Type, body.Data.ID, rec)
	}
	var l struct {
		Recording struct {
			Bytes int64 `json:"bytes"`
		} `json:"recording"`
	}
	ta.leadAs(t, id, &l)
	if l.Recording.Bytes != rec.Bytes {
		t.Errorf("the webhook says %d bytes, the lead %d", rec.Bytes, l.Recording.Bytes)
	}
}
