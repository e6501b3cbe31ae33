package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/oktaq/oktaq/okta/oktasim"
)

// system is one run of oktaq as operators run it, every part a process of
// its own on loopback ports: redis-server (AOF), `oktaq sim`, two
// `oktaq worker`s and `oktaq api`.
type system struct {
	bin, dir           string
	redisPort, simPort int
	apiPort            int
	workerAdmin        [2]int
	procs              map[string]*exec.Cmd
	secretFile         string
	users              []string // logins, seeded ACTIVE
	ids                map[string]string
	logins             map[string]string // id -> login
}

const (
	clientID     = "oktaq-chaos"
	clientSecret = "chaos-client-secret-4d1e"
	apiToken     = "chaos-producer-token"
	signingKeys  = "k1=chaos-signing-key-0123456789abcdef"
)

func newSystem(bin, dir string, users int) (*system, error) {
	s := &system{bin: bin, dir: dir, procs: map[string]*exec.Cmd{}, ids: map[string]string{}, logins: map[string]string{}}
	var err error
	for _, p := range []*int{&s.redisPort, &s.simPort, &s.apiPort, &s.workerAdmin[0], &s.workerAdmin[1]} {
		if *p, err = freePort(); err != nil {
			return nil, err
		}
	}
	seed := oktasim.Seed{Clients: []oktasim.SeedClient{{ClientID: clientID, ClientSecret: clientSecret, Scopes: oktasim.ManageScopes}}}
	for i := range users {
		login := fmt.Sprintf("chaos%03d@example.com", i)
		id := fmt.Sprintf("00uchaos%06d", i)
		seed.Users = append(seed.Users, oktasim.SeedUser{ID: id, Login: login, Status: "ACTIVE"})
		s.users = append(s.users, login)
		s.ids[login], s.logins[id] = id, login
	}
	b, _ := json.Marshal(seed)
	if err := os.WriteFile(filepath.Join(dir, "seed.json"), b, 0o600); err != nil {
		return nil, err
	}
	s.secretFile = filepath.Join(dir, "client-secret")
	return s, s.writeSecret(clientSecret)
}

func (s *system) writeSecret(v string) error {
	tmp := s.secretFile + ".new"
	if err := os.WriteFile(tmp, []byte(v+"\n"), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, s.secretFile) // as a Kubernetes secret volume swaps it
}

func (s *system) start(faults string) error {
	if err := s.startRedis(); err != nil {
		return err
	}
	if err := s.run("sim", s.bin, "sim", "--addr", s.addr(s.simPort), "--seed", filepath.Join(s.dir, "seed.json"),
		"--faults", faults, "--faults-seed", "7"); err != nil {
		return err
	}
	if err := waitHTTP("http://" + s.addr(s.simPort) + "/__sim/faults"); err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	for i := range s.workerAdmin {
		if err := s.startWorker(i); err != nil {
			return err
		}
	}
	if err := s.run("api", s.bin, "api"); err != nil {
		return err
	}
	return waitHTTP("http://" + s.addr(s.apiPort) + "/healthz")
}

func (s *system) startRedis() error {
	return s.runThen("redis", waitTCP(s.addr(s.redisPort)), "redis-server", "--port", strconv.Itoa(s.redisPort),
		"--bind", "127.0.0.1", "--dir", s.dir, "--appendonly", "yes", "--appendfsync", "everysec", "--save", "")
}

func (s *system) startWorker(i int) error {
	name := fmt.Sprintf("worker%d", i+1)
	if err := s.run(name, s.bin, "worker"); err != nil {
		return err
	}
	return waitHTTP("http://" + s.addr(s.workerAdmin[i]) + "/healthz")
}

func (s *system) addr(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

// env is the configuration every oktaq process gets; name picks the
// admin port of a worker.
func (s *system) env(name string) []string {
	sum := sha256.Sum256([]byte(apiToken))
	admin := s.apiPort + 0
	switch name {
	case "worker1":
		admin = s.workerAdmin[0]
	case "worker2":
		admin = s.workerAdmin[1]
	case "api":
		p, _ := freePort()
		admin = p
	}
	return append(os.Environ(),
		"OKTAQ_REDIS_URL=redis://"+s.addr(s.redisPort)+"/0",
		"OKTAQ_SIGNING_KEYS="+signingKeys,
		"OKTAQ_OKTA_DOMAIN=http://"+s.addr(s.simPort), "OKTAQ_OKTA_ALLOW_HTTP=true",
		"OKTAQ_OKTA_CLIENT_ID="+clientID, "OKTAQ_OKTA_CLIENT_SECRET_FILE="+s.secretFile,
		"OKTAQ_OKTA_SCOPES=okta.users.read,okta.users.manage",
		"OKTAQ_ROLES=*=it-admin", "OKTAQ_PRODUCER_ROLES=chaos=it-admin",
		"OKTAQ_API_TOKENS=chaos="+hex.EncodeToString(sum[:]),
		"OKTAQ_API_ADDR="+s.addr(s.apiPort),
		"OKTAQ_ADMIN_ADDR="+s.addr(admin),
		"OKTAQ_LOG_FORMAT=text")
}

func (s *system) run(name, bin string, args ...string) error {
	return s.runThen(name, nil, bin, args...)
}

func (s *system) runThen(name string, ready func() error, bin string, args ...string) error {
	log, err := os.OpenFile(filepath.Join(s.dir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = s.env(name)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("start %s: %w", name, err)
	}
	go func() { _ = cmd.Wait(); log.Close() }()
	s.procs[name] = cmd
	if ready != nil {
		if err := ready(); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

// signal sends sig to one process (by the pid we started) and, for
// SIGKILL, waits until it is gone.
func (s *system) signal(name string, sig syscall.Signal) {
	cmd := s.procs[name]
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	for range 300 {
		if cmd.Process.Signal(syscall.Signal(0)) != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	delete(s.procs, name)
}

// stop ends every process this system started, Redis last: SIGTERM,
// then SIGKILL.
func (s *system) stop() {
	for _, name := range []string{"api", "worker1", "worker2", "sim", "redis"} {
		cmd := s.procs[name]
		if cmd == nil {
			continue
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := false
		for range 100 {
			if cmd.Process.Signal(syscall.Signal(0)) != nil {
				done = true
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if !done {
			_ = cmd.Process.Kill()
		}
		delete(s.procs, name)
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func waitTCP(addr string) func() error {
	return func() error {
		for range 200 {
			if c, err := net.Dial("tcp", addr); err == nil {
				c.Close()
				return nil
			}
			time.Sleep(50 * time.Millisecond)
		}
		return fmt.Errorf("%s does not answer", addr)
	}
}

func waitHTTP(url string) error {
	for range 600 {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode < 500 {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s does not answer", url)
}
