// Command go-reference is the benchmark's yardstick: the seed article's graceful Go service,
// rewritten from its description (not its code). GET|POST /incr answers 200 at once and starts a
// goroutine that sleeps WORK_DELAY_MS and then runs INCR on Redis. On SIGTERM/SIGINT it stops the
// HTTP server, waits for every goroutine, closes the Redis client and exits 0.
//
// Deliberately the original's design, not lastcall's: a goroutine and a plain INCR per request (no
// idempotency key, no batching), no shutdown delay, no deadline. Run it with GOMAXPROCS=1 to
// compare with one Node.js process.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

func main() {
	if err := run(); err != nil {
		logLine(map[string]any{"level": "fatal", "msg": err.Error()})
		os.Exit(1)
	}
}

func run() error {
	host := envOr("HOST", "127.0.0.1")
	port := envOr("PORT", "8080")
	key := envOr("COUNTER_KEY", "counter")
	workDelayMs, err := strconv.Atoi(envOr("WORK_DELAY_MS", "5000"))
	if err != nil || workDelayMs < 0 {
		return fmt.Errorf("WORK_DELAY_MS=%q is not allowed: expected an integer number of milliseconds >= 0", os.Getenv("WORK_DELAY_MS"))
	}
	options, err := redis.ParseURL(envOr("REDIS_URL", "redis://127.0.0.1:6379"))
	if err != nil {
		return fmt.Errorf("REDIS_URL: %w", err)
	}
	rdb := redis.NewClient(options)
	workDelay := time.Duration(workDelayMs) * time.Millisecond

	var work sync.WaitGroup
	var pending atomic.Int64
	mux := http.NewServeMux()
	incr := func(w http.ResponseWriter, _ *http.Request) {
		id := newID()
		pending.Add(1)
		work.Add(1)
		go func() {
			defer work.Done()
			defer pending.Add(-1)
			time.Sleep(workDelay)
			// Not the request's context: it ends with the response, long before the work.
			if err := rdb.Incr(context.Background(), key).Err(); err != nil {
				logLine(map[string]any{"level": "error", "msg": "INCR failed", "err": err.Error()})
			}
		}()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":"` + id + `"}`))
	}
	mux.HandleFunc("GET /incr", incr)
	mux.HandleFunc("POST /incr", incr)
	mux.HandleFunc("GET /count", func(w http.ResponseWriter, r *http.Request) {
		value, err := rdb.Get(r.Context(), key).Int64()
		if err != nil && !errors.Is(err, redis.Nil) {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"key": key, "value": value})
	})
	mux.HandleFunc("GET /pending", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"pending":%d}`, pending.Load())
	})

	listener, err := net.Listen("tcp", net.JoinHostPort(host, port))
	if err != nil {
		return err
	}
	server := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- server.Serve(listener) }()
	logLine(map[string]any{"level": "info", "msg": "started", "port": listener.Addr().(*net.TCPAddr).Port, "workDelayMs": workDelayMs})

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	select {
	case err := <-served:
		return err
	case sig := <-signals:
		started := time.Now()
		atSignal := pending.Load()
		logLine(map[string]any{"level": "info", "msg": "signal received", "signal": sig.String(), "pending": atSignal})
		// Shutdown closes the listener and idle connections and waits for active requests.
		if err := server.Shutdown(context.Background()); err != nil {
			logLine(map[string]any{"level": "error", "msg": "shutdown", "err": err.Error()})
		}
		work.Wait()
		_ = rdb.Close()
		logLine(map[string]any{"level": "info", "msg": "drained", "pendingAtSignal": atSignal, "drainMs": time.Since(started).Milliseconds()})
		return nil
	}
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}

func envOr(name, fallback string) string {
	if value := os.Getenv(name); value != "" {
		return value
	}
	return fallback
}

var logMu sync.Mutex

func logLine(fields map[string]any) {
	fields["time"] = time.Now().UnixMilli()
	line, _ := json.Marshal(fields)
	logMu.Lock()
	defer logMu.Unlock()
	_, _ = os.Stdout.Write(append(line, '\n'))
}
