package config

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/hibiken/asynq"
)

// redisURLForms is what ParseRedisURL accepts, for its error messages.
const redisURLForms = "redis://[:password@]host:port/db, rediss://..., " +
	"redis-sentinel://[:sentinel-password@]host:port,host:port/db?master=NAME, " +
	"or redis-cluster://[:password@]host:port,host:port (rediss-cluster:// for TLS)"

// ParseRedisURL accepts redis://, rediss://, redis-sentinel:// and
// redis-cluster:// (rediss-cluster://) URLs; password, when set
// (OKTAQ_REDIS_PASSWORD), is the password of the Redis servers (for
// Sentinel: of the master, the URL's being the sentinels'). Errors never
// repeat the URL, which may hold a password.
func ParseRedisURL(raw, password string) (asynq.RedisConnOpt, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("is not a URL; want %s", redisURLForms)
	}
	switch u.Scheme {
	case "redis", "rediss":
		return parseRedisSingle(raw, u, password)
	case "redis-sentinel":
		return parseRedisSentinel(u, password)
	case "redis-cluster", "rediss-cluster":
		return parseRedisCluster(u, password)
	}
	return nil, fmt.Errorf("scheme %q is not redis, rediss, redis-sentinel, redis-cluster or rediss-cluster", u.Scheme)
}

func parseRedisSingle(raw string, u *url.URL, password string) (asynq.RedisConnOpt, error) {
	opt, err := asynq.ParseRedisURI(raw)
	if err != nil {
		return nil, fmt.Errorf("cannot be used: want redis://host:port/db with a numeric db")
	}
	o, ok := opt.(asynq.RedisClientOpt)
	if !ok {
		return nil, fmt.Errorf("cannot be used: want %s", redisURLForms)
	}
	if u.User != nil {
		o.Username = u.User.Username()
	}
	if password != "" {
		o.Password = password
	}
	return o, nil
}

// parseRedisSentinel keeps the DB number, which asynq.ParseRedisURI drops
// (a "/5" wrote to DB 0).
func parseRedisSentinel(u *url.URL, password string) (asynq.RedisConnOpt, error) {
	addrs, err := hostList(u)
	if err != nil {
		return nil, err
	}
	o := asynq.RedisFailoverClientOpt{MasterName: u.Query().Get("master"), SentinelAddrs: addrs, Password: password}
	if o.MasterName == "" {
		return nil, fmt.Errorf("redis-sentinel URL needs ?master=NAME")
	}
	if u.User != nil {
		o.SentinelPassword, _ = u.User.Password()
	}
	if o.DB, err = dbNumber(u.Path); err != nil {
		return nil, err
	}
	return o, nil
}

// parseRedisCluster builds a cluster option: the hosts are seeds, the
// client learns the others from them. A cluster has database 0 only.
func parseRedisCluster(u *url.URL, password string) (asynq.RedisConnOpt, error) {
	addrs, err := hostList(u)
	if err != nil {
		return nil, err
	}
	if db, err := dbNumber(u.Path); err != nil || db != 0 {
		return nil, fmt.Errorf("a Redis Cluster has database 0 only; remove the /db from the URL")
	}
	o := asynq.RedisClusterClientOpt{Addrs: addrs, Password: password}
	if u.User != nil {
		o.Username = u.User.Username()
		if p, ok := u.User.Password(); ok && password == "" {
			o.Password = p
		}
	}
	if u.Scheme == "rediss-cluster" {
		host, _, _ := net.SplitHostPort(addrs[0])
		o.TLSConfig = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	}
	return o, nil
}

// hostList reads host:port,host:port (at least one, each with a port).
func hostList(u *url.URL) ([]string, error) {
	var addrs []string
	for _, h := range strings.Split(u.Host, ",") {
		if h = strings.TrimSpace(h); h == "" {
			continue
		}
		if _, port, err := net.SplitHostPort(h); err != nil || port == "" {
			return nil, fmt.Errorf("host %q has no port; want host:port,host:port", h)
		}
		addrs = append(addrs, h)
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("names no host; want %s", redisURLForms)
	}
	return addrs, nil
}

// dbNumber reads the database index of a URL path ("" or "/" is 0).
func dbNumber(path string) (int, error) {
	p := strings.Trim(path, "/")
	if p == "" {
		return 0, nil
	}
	db, err := strconv.Atoi(p)
	if err != nil || db < 0 {
		return 0, fmt.Errorf("database %q is not a number of 0 or more", p)
	}
	return db, nil
}
