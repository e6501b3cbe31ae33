// Command screenshot is a loopback-only reverse proxy that adds the
// dashboard's basic-auth header, so that a headless browser (which cannot
// answer a login prompt) can render the asynq dashboard of `oktaq dev`.
// deploy/screenshot.sh runs it; it is not part of oktaq.
package main

import (
	"flag"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9099", "loopback address to serve on")
	target := flag.String("target", "http://127.0.0.1:9090", "the admin listener of oktaq dev")
	user := flag.String("user", "admin", "dashboard user")
	password := flag.String("password", "oktaq-dev", "dashboard password (oktaq dev prints it)")
	flag.Parse()

	host, _, err := net.SplitHostPort(*listen)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		log.Fatalf("-listen %s: must be a loopback address: this proxy logs anyone in", *listen)
	}
	to, err := url.Parse(*target)
	if err != nil {
		log.Fatalf("-target: %v", err)
	}
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(to)
		r.Out.SetBasicAuth(*user, *password)
	}}
	srv := &http.Server{Addr: *listen, Handler: proxy, ReadHeaderTimeout: 5 * time.Second}
	log.Fatal(srv.ListenAndServe())
}
