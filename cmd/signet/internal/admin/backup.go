package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/signet-idp/signet/storage"
)

// PathBackup is the admin API endpoint that streams an online backup.
const PathBackup = "/v1/backup"

// backup serves GET /v1/backup: a consistent copy of the database, written by
// b from one read transaction while the server goes on serving. The copy is
// the backend's own format (a bbolt file for the embedded store). It holds no
// secret of the process (those are files in data_dir or environment
// variables), but it does hold every record: like the rest of the API, only
// the socket's owner may ask for it.
func (h *handler) backup(b storage.Backupper) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Trailer", trailerBackupBytes)
		n, err := b.Backup(r.Context(), w)
		if err != nil {
			// Nothing is written before the transaction starts, so an early
			// failure can still be a clean 500; a late one cuts the stream, and
			// the client sees the missing trailer.
			h.log.ErrorContext(r.Context(), "admin API: backup", "bytes", n, "error", err)
			if n == 0 {
				writeError(w, http.StatusInternalServerError, KindInternal, "backup failed in the server; see its log")
			}
			return
		}
		w.Header().Set(trailerBackupBytes, strconv.FormatInt(n, 10))
		h.log.InfoContext(r.Context(), "admin action", "event", "admin", "action", "backup", "bytes", n, "result", "ok")
	}
}

// trailerBackupBytes is a trailer with the byte count of a complete backup, so
// that a stream cut short is never taken for a backup.
const trailerBackupBytes = "Signet-Backup-Bytes"

// Backup writes the running server's online backup to w and returns its size.
// It fails unless the whole copy arrived.
func (c *Client) Backup(ctx context.Context, w io.Writer) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://signet"+PathBackup, nil)
	if err != nil {
		return 0, err
	}
	// A large database takes a while; the request's context bounds it, not
	// the client's overall timeout.
	hc := *c.http
	hc.Timeout = 0
	resp, err := hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("admin socket: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var eb errorBody
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(data, &eb) != nil || eb.Error == "" {
			return 0, fmt.Errorf("admin API GET %s: %s", PathBackup, resp.Status)
		}
		return 0, &Error{Kind: kindOfStatus(resp.StatusCode), Msg: eb.Error}
	}
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("backup: %w", err)
	}
	if want := resp.Trailer.Get(trailerBackupBytes); want != strconv.FormatInt(n, 10) {
		return n, errors.New("backup: the server's copy was cut short (see its log); nothing usable was written")
	}
	return n, nil
}
