package main

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// readyInfo is what `serve --ready-file` holds while the node serves: the addresses it
// listens on, for a supervisor (or a test) that started it, perhaps on port 0.
type readyInfo struct {
	HTTP string `json:"http"`
	SIP  string `json:"sip"`
	SMTP string `json:"smtp,omitempty"` // only with email.listen
	PID  int    `json:"pid"`
}

// writeReadyFile writes info to path atomically: a temporary file in the same folder,
// renamed over path, so that a reader finds either no file or all of it.
func writeReadyFile(path string, info readyInfo) (err error) {
	data, err := json.Marshal(info)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(append(data, '\n')); err != nil {
		f.Close()
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Chmod(f.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// writeReady writes the ready file, if serve was given one, once the node serves.
func (a *app) writeReady() {
	if a.readyFile == "" {
		return
	}
	info := readyInfo{HTTP: a.ln.Addr().String(), SIP: a.ua.Addr().String(), PID: os.Getpid()}
	if a.mail != nil {
		info.SMTP = a.mail.Addr().String()
	}
	if err := writeReadyFile(a.readyFile, info); err != nil {
		a.log.Error("writing the ready file", "path", a.readyFile, "error", err)
	}
}

// removeReady removes the ready file as the node stops taking leads.
func (a *app) removeReady() {
	if a.readyFile == "" {
		return
	}
	if err := os.Remove(a.readyFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
		a.log.Warn("removing the ready file", "path", a.readyFile, "error", err)
	}
}
