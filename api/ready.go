package api

// Degraded is an error Options.Ready returns when the server can take leads but part of
// it is down (a trunk that is not registered while another can carry calls): GET
// /readyz answers 200 with "ok: " and Detail rather than 503.
type Degraded struct {
	Detail string
}

func (d *Degraded) Error() string { return d.Detail }
