package oktasim

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// simPrefix holds the simulator's own endpoints, for black-box tests that
// run it as a separate process (`oktaq sim`). They need no credentials
// and are not logged in the request log; the simulator listens on
// loopback for tests only.
//
//	GET    /__sim/requests  the request log, one JSON object a line (Request)
//	DELETE /__sim/requests  clears it
//	GET    /__sim/faults    the faults injected now, as a SPEC (ParseFaults)
//	PUT    /__sim/faults    replaces them with the SPEC in the body ("" = none)
const simPrefix = "/__sim/"

func (s *Sim) serveControl(w http.ResponseWriter, r *http.Request) {
	switch r.Method + " " + strings.TrimPrefix(r.URL.Path, simPrefix) {
	case "GET requests":
		w.Header().Set("Content-Type", "application/jsonl")
		bw := bufio.NewWriter(w)
		enc := json.NewEncoder(bw)
		for _, req := range s.Requests() {
			_ = enc.Encode(req)
		}
		_ = bw.Flush()
	case "DELETE requests":
		s.ResetRequests()
		w.WriteHeader(http.StatusNoContent)
	case "GET faults":
		fmt.Fprintln(w, s.CurrentFaults())
	case "PUT faults":
		body, err := io.ReadAll(io.LimitReader(r.Body, 4096))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f, err := ParseFaults(strings.TrimSpace(string(body)))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.SetFaults(f)
		fmt.Fprintln(w, f)
	default:
		http.Error(w, "simulator controls: GET|DELETE /__sim/requests, GET|PUT /__sim/faults", http.StatusNotFound)
	}
}
