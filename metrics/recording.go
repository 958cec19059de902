package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/leadline/leadline/dialer"
)

// Stage label values of leadline_recording_failures_total: where a recording failed
// (recording.Observer's RecordingFailed).
var recordingStages = []string{"start", "write", "finish", "store", "upload", "repair", "delete"}

// Reason label values of leadline_recordings_deleted_total.
var recordingDeleteReasons = []string{dialer.DeletedRetention, dialer.DeletedErasure}

// recordingMetrics are the call recordings' series. Every label value is known at start,
// so that the series exist at 0 and a caller's stray value cannot create new ones.
type recordingMetrics struct {
	written  prometheus.Counter
	bytes    prometheus.Counter
	failures map[string]prometheus.Counter // stage
	deleted  map[string]prometheus.Counter // reason
}

func newRecordingMetrics(reg prometheus.Registerer) *recordingMetrics {
	written := prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "recordings_written_total",
		Help:      "Call recordings finished and kept (including those a crash interrupted, finished at the next start).",
	})
	bytes := prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "recording_bytes_total",
		Help:      "Bytes of the WAV files of the call recordings counted by leadline_recordings_written_total.",
	})
	failures := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "recording_failures_total",
		Help: "Call recordings that could not be made, finished, kept or deleted, by stage: start (the file or its row could not be created: " +
			"the call goes unrecorded), write (a write failed: the rest of the call is not recorded), finish (the file could not be closed or noted), " +
			"store (the store refused the finished file), upload (an upload to object storage failed; tried again later), repair (a file a crash " +
			"interrupted could not be repaired), delete (an erasure or expiry could not delete the file).",
	}, []string{"stage"})
	deleted := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "recordings_deleted_total",
		Help:      "Call recordings deleted, by reason: retention (the dealer's recording.retention ran out) or erasure (DELETE /v1/leads/{id}/recording).",
	}, []string{"reason"})
	reg.MustRegister(written, bytes, failures, deleted)
	r := &recordingMetrics{
		written: written, bytes: bytes,
		failures: map[string]prometheus.Counter{},
		deleted:  map[string]prometheus.Counter{},
	}
	for _, s := range recordingStages {
		r.failures[s] = failures.WithLabelValues(s)
	}
	for _, s := range recordingDeleteReasons {
		r.deleted[s] = deleted.WithLabelValues(s)
	}
	return r
}

// RecordingWritten counts a finished, kept recording of size bytes.
func (r *recordingMetrics) RecordingWritten(bytes int64) {
	r.written.Inc()
	if bytes > 0 {
		r.bytes.Add(float64(bytes))
	}
}

// RecordingFailed counts a recording that failed at stage (start, write, finish, store,
// upload, repair, delete). Any other stage is a caller bug and is not counted, so that
// it cannot create series.
func (r *recordingMetrics) RecordingFailed(stage string) {
	if c, ok := r.failures[stage]; ok {
		c.Inc()
	}
}

// RecordingDeleted counts a recording deleted for reason (retention, erasure); any
// other reason is not counted.
func (r *recordingMetrics) RecordingDeleted(reason string) {
	if c, ok := r.deleted[reason]; ok {
		c.Inc()
	}
}
