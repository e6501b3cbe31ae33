package oktasim

import "time"

// factorPrefix gives factor ids the prefixes Okta uses per type.
var factorPrefix = map[string]string{"sms": "mbl", "call": "clf", "email": "eml", "push": "opf",
	"token:software:totp": "ost", "token:hotp": "chf", "token": "rsa", "token:hardware": "ykf",
	"question": "ufs", "web": "dsf", "webauthn": "fwf", "u2f": "fuf"}

func newFactor(typ string, now time.Time) factor {
	p := factorPrefix[typ]
	if p == "" {
		p = "mfa"
	}
	provider := "OKTA"
	switch typ {
	case "token:software:totp":
		provider = "GOOGLE"
	case "webauthn":
		provider = "FIDO"
	}
	return factor{id: newID(p), typ: typ, provider: provider, created: now}
}

// factorBody is shaped for the SDK's ListFactors200ResponseInner, which picks the variant by factorType.
func (s *Sim) factorBody(u *user, f factor) map[string]any {
	self := s.baseURL + "/api/v1/users/" + u.id + "/factors/" + f.id
	var profile map[string]any
	switch f.typ {
	case "sms", "call":
		profile = map[string]any{"phoneNumber": "+1 XXX-XXX-4242"}
	case "email":
		profile = map[string]any{"email": u.email}
	case "push":
		profile = map[string]any{"credentialId": u.login, "deviceType": "SmartPhone_IPhone",
			"name": "iPhone", "platform": "IOS", "version": "17.4"}
	case "question":
		profile = map[string]any{"question": "favorite_art_piece", "questionText": "What is your favorite piece of art?"}
	default:
		profile = map[string]any{"credentialId": u.login}
	}
	return map[string]any{"id": f.id, "factorType": f.typ, "provider": f.provider,
		"vendorName": f.provider, "status": "ACTIVE", "created": oktaTime(f.created),
		"lastUpdated": oktaTime(f.created), "profile": profile,
		"_links": map[string]href{"self": {Href: self, Method: ""},
			"user": {Href: s.baseURL + "/api/v1/users/" + u.id}}}
}

func (s *Sim) listFactors(c *call) response {
	u, r := c.user()
	if u == nil {
		return r
	}
	out := []map[string]any{}
	for _, f := range u.factors {
		out = append(out, s.factorBody(u, f))
	}
	return ok(out)
}
