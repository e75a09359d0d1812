// Command devserver runs an embedded FerretDB with its SQLite backend, so
// the tests and the demo get a real MongoDB wire-protocol server on
// machines that have neither mongod nor a Docker engine.
//
// Usage:
//
//	devserver [-listen 127.0.0.1:27017] [-dir .devdata]
//	devserver [-listen ADDR] [-dir DIR] -- CMD [ARGS...]
//
// The first form serves until SIGINT or SIGTERM. The second starts the
// server, waits until it answers ping, runs CMD with MONGODB_URI set,
// stops the server when CMD exits and exits with CMD's status. If
// MONGODB_URI is already set, CMD runs against that server and none is
// started, so a developer's own mongod or a CI service takes precedence.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"golang.org/x/term"
)

// startTimeout bounds how long we wait for the first successful ping; a
// slow disk or a wedged SQLite file should fail CI loudly, not hang it.
const startTimeout = 60 * time.Second

func main() {
	listen := flag.String("listen", "127.0.0.1:27017",
		"loopback TCP `address` to listen on")
	dir := flag.String("dir", ".devdata",
		"SQLite data `folder`, created if missing")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(),
			"usage: devserver [flags] [-- CMD [ARGS...]]\n")
		flag.PrintDefaults()
	}
	flag.Parse()

	code, err := run(*listen, *dir, flag.Args())
	if err != nil {
		fmt.Fprintln(os.Stderr, "devserver:", err)
	}
	os.Exit(code)
}

func run(listen, dir string, command []string) (int, error) {
	// Subscribe before anything starts so that an early Ctrl-C aborts
	// startup cleanly instead of killing us with the server half-open.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)

	if len(command) > 0 && os.Getenv("MONGODB_URI") != "" {
		return runCommand(command, nil, sigs)
	}

	if err := checkLoopback(listen); err != nil {
		return 2, err
	}

	srv, err := startServer(listen, dir)
	if err != nil {
		return 1, err
	}
	defer srv.stop()

	ready := make(chan error, 1)
	go func() { ready <- waitForPing(srv.uri) }()
	select {
	case err := <-ready:
		if err != nil {
			return 1, err
		}
	case sig := <-sigs:
		return exitCodeFor(sig), fmt.Errorf("%v during startup", sig)
	}

	if len(command) == 0 {
		fmt.Printf("devserver: listening on %s (data in %s)\n", srv.uri, dir)
		sig := <-sigs
		// A second signal while we drain connections should kill us.
		signal.Stop(sigs)
		fmt.Fprintf(os.Stderr, "devserver: %v, stopping\n", sig)
		return 0, nil
	}

	return runCommand(command, []string{"MONGODB_URI=" + srv.uri}, sigs)
}

// checkLoopback refuses other hosts because FerretDB runs here without
// authentication or TLS: anyone who can reach the port owns the data.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("-listen %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("-listen %q: host must be a loopback address "+
		"such as 127.0.0.1 or [::1], since the server has no auth", addr)
}

type server struct {
	uri    string
	cancel context.CancelFunc
	done   chan struct{}
}

func startServer(listen, dir string) (*server, error) {
	// FerretDB's own error for a busy port is buried in a wrapped string;
	// probing first lets us say plainly what is wrong.
	ln, err := net.Listen("tcp", listen)
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("%s is already in use: is another devserver "+
			"or mongod running? Pick another port with -listen", listen)
	}
	if err != nil {
		return nil, err
	}
	ln.Close()

	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	// An absolute path keeps the SQLite URI independent of the working
	// directory and of how FerretDB splits "file:" URIs.
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	dataURL := &url.URL{Scheme: "file", Path: filepath.ToSlash(abs) + "/"}

	// FerretDB logs every connection at info and every error reply (such
	// as the driver's unsupported endSessions, or a duplicate key) at
	// warn, with the whole message; only errors are worth test output.
	logger := slog.New(slog.NewTextHandler(os.Stderr,
		&slog.HandlerOptions{Level: slog.LevelError}))

	// New binds the listener before returning, so the port is ours (or
	// New failed) by the time we compute the URI.
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: listen},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: dataURL.String(),
	})
	if err != nil {
		return nil, fmt.Errorf("starting FerretDB: %w", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	s := &server{uri: f.MongoDBURI(), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		_ = f.Run(ctx) // always nil in v1.24; it returns once ctx ends
	}()
	return s, nil
}

// stop waits for Run so that the port is released and SQLite files are
// closed before the process exits.
func (s *server) stop() {
	s.cancel()
	<-s.done
}

// waitForPing polls until the server answers: an accepted TCP connection
// alone does not prove the SQLite backend opened.
func waitForPing(uri string) error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()

	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		return err
	}
	defer client.Disconnect(context.Background())

	admin := client.Database("admin")
	for {
		err = admin.RunCommand(ctx, bson.D{{Key: "ping", Value: 1}}).Err()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("server at %s did not answer ping within %v: %w",
				uri, startTimeout, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// runCommand runs command with our stdio and extra environment, relays
// SIGINT and SIGTERM to it, and returns its exit code.
func runCommand(command, env []string, sigs <-chan os.Signal) (int, error) {
	cmd := exec.Command(command[0], command[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), env...)

	// A signal sent to us alone (kill, a supervisor, a CI timeout) must
	// reach grandchildren too: `go run` ignores SIGINT and dies on SIGTERM
	// without passing either on, which would orphan the program it runs.
	// So the child gets its own process group and we signal the group.
	// On a terminal the child stays in ours instead, so that it can still
	// read the terminal; Ctrl-C reaches the whole group there anyway.
	ownGroup := !term.IsTerminal(int(os.Stdin.Fd()))
	if ownGroup {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	}
	if err := cmd.Start(); err != nil {
		return 127, err
	}

	exited := make(chan struct{})
	defer close(exited)
	go func() {
		for {
			select {
			case sig := <-sigs:
				if ownGroup {
					_ = syscall.Kill(-cmd.Process.Pid, sig.(syscall.Signal))
				} else {
					_ = cmd.Process.Signal(sig)
				}
			case <-exited:
				return
			}
		}
	}()

	err := cmd.Wait()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		ws, ok := exitErr.Sys().(syscall.WaitStatus)
		if ok && ws.Signaled() {
			return exitCodeFor(ws.Signal()), nil
		}
		return exitErr.ExitCode(), nil
	}
	if err != nil {
		return 1, err
	}
	return 0, nil
}

// exitCodeFor follows the shell convention so callers such as make can
// tell that a run was interrupted rather than failed.
func exitCodeFor(sig os.Signal) int {
	if s, ok := sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 1
}
