package config

import (
	"fmt"

	"github.com/oktaq/oktaq/worker"
)

// Callbacks builds the delivery options from OKTAQ_PRODUCER_CALLBACKS,
// OKTAQ_CALLBACK_SECRETS and OKTAQ_CALLBACK_ALLOW_HTTP; nil when no
// producer has a callback URL.
func (c *Config) Callbacks() (*worker.CallbackOptions, error) {
	e := c.Env
	if e.ProducerCallbacks == "" && e.CallbackSecrets == "" {
		return nil, nil
	}
	urls, err := worker.ParseCallbackURLs(e.ProducerCallbacks, e.CallbackAllowHTTP)
	if err != nil {
		return nil, fmt.Errorf("OKTAQ_PRODUCER_CALLBACKS: %w", err)
	}
	secrets, err := worker.ParseCallbackSecrets(e.CallbackSecrets.Reveal())
	if err != nil {
		return nil, fmt.Errorf("OKTAQ_CALLBACK_SECRETS: %w", err)
	}
	eps, err := worker.CallbackEndpoints(urls, secrets)
	if err != nil {
		return nil, fmt.Errorf("OKTAQ_PRODUCER_CALLBACKS / OKTAQ_CALLBACK_SECRETS: %w", err)
	}
	return &worker.CallbackOptions{Endpoints: eps}, nil
}

// CallbackProducers lists the producers with a callback URL (for the
// oldest-undelivered gauge).
func CallbackProducers(o *worker.CallbackOptions) []string {
	if o == nil {
		return nil
	}
	out := make([]string, 0, len(o.Endpoints))
	for p := range o.Endpoints {
		out = append(out, p)
	}
	return out
}

// Confirm is the confirmation setting: on unless OKTAQ_CONFIRMATIONS_OFF.
func (c *Config) Confirm() *worker.ConfirmOptions {
	if c.Env.ConfirmationsOff {
		return nil
	}
	return &worker.ConfirmOptions{Timeout: c.Env.ConfirmTimeout}
}
