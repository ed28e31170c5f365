/*
Copyright 2026 The keypool-operator Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package fakeprovider

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// faultWire is Fault on the admin endpoint, with durations as Go duration
// strings ("2s", "150ms") so curl users need not count nanoseconds.
type faultWire struct {
	Kind       FaultKind `json:"kind"`
	Key        string    `json:"key,omitempty"`
	Count      int       `json:"count,omitempty"`
	Status     int       `json:"status,omitempty"`
	RetryAfter string    `json:"retry_after,omitempty"`
	Delay      string    `json:"delay,omitempty"`
}

func (w faultWire) fault() (Fault, error) {
	f := Fault{Kind: w.Kind, Key: w.Key, Count: w.Count, Status: w.Status}
	for _, d := range []struct {
		s   string
		dst *time.Duration
	}{{w.RetryAfter, &f.RetryAfter}, {w.Delay, &f.Delay}} {
		if d.s == "" {
			continue
		}
		v, err := time.ParseDuration(d.s)
		if err != nil {
			return Fault{}, fmt.Errorf("fault %s: %w", w.Kind, err)
		}
		*d.dst = v
	}
	return f, nil
}

func wireFault(f Fault) faultWire {
	w := faultWire{Kind: f.Kind, Key: f.Key, Count: f.Count, Status: f.Status}
	if f.RetryAfter > 0 {
		w.RetryAfter = f.RetryAfter.String()
	}
	if f.Delay > 0 {
		w.Delay = f.Delay.String()
	}
	return w
}

// serveAdmin serves the control endpoints a separate process is driven by:
//
//	GET    /_fake/stats              Stats as JSON
//	DELETE /_fake/stats              ResetStats
//	GET    /_fake/faults             active faults
//	POST   /_fake/faults             add a fault (object) or faults (array)
//	DELETE /_fake/faults             ClearFaults
//	POST   /_fake/revoke?key=K       RevokeKey (401 from then on)
//	POST   /_fake/forbid?key=K       ForbidKey (403 from then on)
//	POST   /_fake/restore?key=K      RestoreKey
//	POST   /_fake/hold               HoldStreams
//	POST   /_fake/release            ReleaseStreams
//	GET    /_fake/levels             Levels and ClassLevels as JSON
//	GET    /_fake/admission          whether output is admitted on max_tokens
//	POST   /_fake/admission?max_tokens=on|off  SetAdmitOutputOnMaxTokens
//	POST   /_fake/service-accounts?email=E&project=P&token_url=U  ServiceAccountKey: the key JSON
func (p *Provider) serveAdmin(w http.ResponseWriter, r *http.Request) {
	route := r.Method + " " + r.URL.Path
	switch route {
	case "GET /_fake/stats":
		writeAdmin(w, http.StatusOK, p.Stats())
	case "DELETE /_fake/stats":
		p.ResetStats()
		writeResult(w, "stats reset")
	case "GET /_fake/faults":
		list := p.Faults()
		out := make([]faultWire, len(list))
		for i, f := range list {
			out[i] = wireFault(f)
		}
		writeAdmin(w, http.StatusOK, out)
	case "POST /_fake/faults":
		if err := p.addWireFaults(r.Body); err != nil {
			writeAdmin(w, http.StatusBadRequest, map[string]string{errorType: err.Error()})
			return
		}
		writeAdmin(w, http.StatusOK, map[string]int{"active": len(p.Faults())})
	case "DELETE /_fake/faults":
		p.ClearFaults()
		writeAdmin(w, http.StatusOK, map[string]int{"active": 0})
	case "POST /_fake/revoke", "POST /_fake/forbid", "POST /_fake/restore":
		set := map[string]func(string) error{
			"/_fake/revoke":  p.RevokeKey,
			"/_fake/forbid":  p.ForbidKey,
			"/_fake/restore": p.RestoreKey,
		}[r.URL.Path]
		if err := set(r.URL.Query().Get("key")); err != nil {
			status := http.StatusBadRequest
			if errors.Is(err, ErrUnknownKey) {
				status = http.StatusNotFound
			}
			writeAdmin(w, status, map[string]string{errorType: err.Error()})
			return
		}
		writeResult(w, "ok")
	case "POST /_fake/service-accounts":
		q := r.URL.Query()
		key, err := p.ServiceAccountKey(q.Get("email"), q.Get("project"), q.Get("token_url"))
		if err != nil {
			writeAdmin(w, http.StatusInternalServerError, map[string]string{errorType: err.Error()})
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(key)
	case "POST /_fake/hold":
		p.HoldStreams()
		writeResult(w, "holding")
	case "POST /_fake/release":
		p.ReleaseStreams()
		writeResult(w, "released")
	case "GET /_fake/levels":
		writeAdmin(w, http.StatusOK, levelsWire{Orgs: p.Levels(), Classes: p.ClassLevels()})
	case "GET /_fake/admission":
		writeAdmin(w, http.StatusOK, admissionWire{MaxTokens: p.AdmitOutputOnMaxTokens()})
	case "POST /_fake/admission":
		on, err := parseSwitch(r.URL.Query().Get("max_tokens"))
		if err != nil {
			writeAdmin(w, http.StatusBadRequest, map[string]string{errorType: err.Error()})
			return
		}
		p.SetAdmitOutputOnMaxTokens(on)
		writeAdmin(w, http.StatusOK, admissionWire{MaxTokens: on})
	default:
		writeAdmin(w, http.StatusNotFound, map[string]string{errorType: "no admin endpoint " + route})
	}
}

// levelsWire is GET /_fake/levels: default bucket levels by organisation,
// and those of model classes with buckets of their own by organisation and
// class.
type levelsWire struct {
	Orgs    map[string]Levels            `json:"orgs"`
	Classes map[string]map[string]Levels `json:"classes"`
}

// admissionWire is the admission rule on the admin endpoint.
type admissionWire struct {
	// MaxTokens: Anthropic output is reserved from max_tokens at the start.
	MaxTokens bool `json:"max_tokens"`
}

// parseSwitch reads an admin on/off parameter.
func parseSwitch(v string) (bool, error) {
	switch v {
	case "on", "true", "1":
		return true, nil
	case "off", "false", "0":
		return false, nil
	}
	return false, fmt.Errorf("want on or off, got %q", v)
}

// addWireFaults adds one fault or an array of them; on any invalid entry it
// adds none.
func (p *Provider) addWireFaults(body io.Reader) error {
	raw, err := io.ReadAll(io.LimitReader(body, 1<<20))
	if err != nil {
		return fmt.Errorf("read faults: %w", err)
	}
	var wires []faultWire
	if trimmed := bytes.TrimSpace(raw); len(trimmed) > 0 && trimmed[0] == '[' {
		err = json.Unmarshal(trimmed, &wires)
	} else {
		wires = make([]faultWire, 1)
		err = json.Unmarshal(trimmed, &wires[0])
	}
	if err != nil {
		return fmt.Errorf("decode faults: %w", err)
	}
	faults := make([]Fault, len(wires))
	for i, fw := range wires {
		if faults[i], err = fw.fault(); err != nil {
			return err
		}
		if err = faults[i].validate(); err != nil {
			return err
		}
	}
	for _, f := range faults {
		if err := p.SetFault(f); err != nil {
			return err
		}
	}
	return nil
}

// writeResult answers an admin command that succeeded.
func writeResult(w http.ResponseWriter, result string) {
	writeAdmin(w, http.StatusOK, map[string]string{"result": result})
}

func writeAdmin(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"error":"encode response"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}
