package main

import (
	"bytes"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/leadline/leadline/recording/s3test"
	"github.com/leadline/leadline/simphone"
)

// TestRecordingS3: recordings in an S3 bucket (s3rver on loopback). The bucket is
// missing at first, so the upload after the call fails and is retried; the node is
// killed (SIGKILL) meanwhile, with the recording only in its spool. Started again on the
// same database and spool once the bucket exists, it uploads the recording: the object
// holds the WAV, the spool no longer; GET streams it from the bucket (a range too), and
// DELETE removes the object.
func TestRecordingS3(t *testing.T) {
	t.Parallel() // mostly waiting on a real-time call: runs beside the others
	if testing.Short() {
		t.Skip("runs the real binary; skipped with -short")
	}
	srv := s3test.Start(t, "elsewhere")
	bin := buildLeadline(t)
	sales := phone(t, "piet", simphone.Behaviour{Ring: 300 * time.Millisecond, Noise: salesNoise, Key: '1', KeyAfter: time.Second})
	carrier := phone(t, "carrier", simphone.Behaviour{Never: true})
	const number = "+31612345678"
	carrier.Behave(number, simphone.Behaviour{Ring: 300 * time.Millisecond, Noise: customerNoise, HangUp: 4 * time.Second})
	dir := t.TempDir()
	spool := filepath.Join(dir, "spool")
	cfg := fmt.Sprintf(`
node_id: s3-recording
http: {listen: "127.0.0.1:0"}
sip:
  listen: "127.0.0.1:0"
  rtp_ports: "26700-26799"
  trunk: {uri: %q}
store: "sqlite://%s"
recordings: %q
log: {level: info}
dealers:
  - id: jansen
    api_keys: [%q]
    language: en
    caller_id: "+31201234567"
    accept_timeout: 5s
    whisper: "New lead. Press 1."
    people: [{id: piet, phone: %q}]
    flow: [piet]
    recording: {enabled: true, notice: "Recorded."}
`, "sip:"+carrier.Addr().String(), filepath.Join(dir, "leadline.db"),
		"s3://recordings/calls?insecure=true&endpoint="+srv.Endpoint+"&spool="+spool, mnKey, sales.URI())
	env := []string{"AWS_ACCESS_KEY_ID=" + srv.AccessKey, "AWS_SECRET_ACCESS_KEY=" + srv.SecretKey}

	first := runServe(t, bin, "before", cfg, env...)
	status, l := first.post(t, `{"name": "Eva Jansen", "phone": "06-12345678"}`)
	if status != http.StatusAccepted {
		t.Fatalf("POST lead: %d", status)
	}
	if got := first.waitFinal(t, l.ID, 60*time.Second); got.Status != "completed" {
		t.Fatalf("lead %s; want completed", got.Status)
	}
	spooled := filepath.Join(spool, "jansen", l.ID+".wav")
	wav, err := os.ReadFile(spooled)
	if err != nil {
		t.Fatalf("the finished recording in the spool: %v", err)
	}
	// Served from the spool while it waits.
	if code, body := recordingGet(t, first, l.ID, http.MethodGet, ""); code != 200 || !bytes.Equal(body, wav) {
		t.Fatalf("GET the spooled recording: %d, %d bytes; want the %d of the spool", code, len(body), len(wav))
	}
	// Kill once the upload failed and its job waits for its next try (River has
	// written it retryable): a job killed while running would wait for River's rescue.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "leadline.db")+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var state string
		err := db.QueryRow(`SELECT state FROM river_job WHERE kind = 'leadline_upload_recording'`).Scan(&state)
		if err == nil && state == "retryable" && strings.Contains(first.logs(), "recording upload failed") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the upload job is not waiting for a retry within 30 s (%q, %v)", state, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	first.kill()

	// The bucket appears; the node comes back on the same disk.
	mc, err := minio.New(srv.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(srv.AccessKey, srv.SecretKey, ""), BucketLookup: minio.BucketLookupPath})
	if err != nil {
		t.Fatal(err)
	}
	if err := mc.MakeBucket(t.Context(), "recordings", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	second := runServe(t, bin, "after", cfg, env...)
	object := "calls/jansen/" + l.ID + ".wav"
	deadline = time.Now().Add(60 * time.Second)
	for {
		if _, err := mc.StatObject(t.Context(), "recordings", object, minio.StatObjectOptions{}); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("s3://recordings/%s not uploaded 60 s after the restart:\n%s", object, second.logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
	o, err := mc.GetObject(t.Context(), "recordings", object, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(o)
	o.Close()
	if err != nil || !bytes.Equal(got, wav) {
		t.Fatalf("the object holds %d bytes (%v); want the %d of the recording", len(got), err, len(wav))
	}
	// The upload's job removes the spooled file once the object is there.
	deadline = time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(spooled); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the uploaded recording is still in the spool after 30 s")
		}
		time.Sleep(100 * time.Millisecond)
	}

	// From the bucket now: whole and a range.
	if code, body := recordingGet(t, second, l.ID, http.MethodGet, ""); code != 200 || !bytes.Equal(body, wav) {
		t.Fatalf("GET the uploaded recording: %d, %d bytes; want %d", code, len(body), len(wav))
	}
	if code, body := recordingGet(t, second, l.ID, http.MethodGet, "bytes=44-1043"); code != http.StatusPartialContent || !bytes.Equal(body, wav[44:1044]) {
		t.Fatalf("GET range 44-1043 of the uploaded recording: %d, %d bytes", code, len(body))
	}
	if code, _ := recordingGet(t, second, l.ID, http.MethodDelete, ""); code != http.StatusNoContent {
		t.Fatalf("DELETE recording: %d", code)
	}
	if _, err := mc.StatObject(t.Context(), "recordings", object, minio.StatObjectOptions{}); minio.ToErrorResponse(err).Code != minio.NoSuchKey {
		t.Errorf("the erased recording's object: %v; want NoSuchKey", err)
	}
}

// recordingGet sends method to the lead's recording with the dealer's key (and a Range
// header when rng is not empty) and returns the status and body.
func recordingGet(t *testing.T, n *mnNode, id, method, rng string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, n.base+"/v1/leads/"+id+"/recording", nil)
	req.Header.Set("Authorization", "Bearer "+mnKey)
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}
