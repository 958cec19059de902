// Package dialer is Leadline's domain: leads, attempts and the per-lead flow that rings
// salespeople, whispers the lead, waits for the key 1, calls the customer and bridges the
// two, falling through the dealer's steps to the owner; and the dealer's rules around it:
// opening and calling hours (hours.go, schedule.go), customer retries, further rounds and
// round robin steps (rounds.go), duplicate posts joining an open lead, and limits on who
// may be called (abuse.go). It also says which change of a lead is which event for the
// dealer's CRM (events.go: Status.Event, CreatedEvents) and names the records of their
// delivery that the store keeps and the API shows.
//
// Each lead's flow is one goroutine, the flow's owner (flow.go), and the node keeps one
// map of them (registry.go). The owner alone changes the lead: its attempts, its status,
// its metrics and the state of every call it places. The calls are an explicit state
// machine (fsm.go): a salesperson's call goes ringing → whisper → gate, and the first to
// press 1 becomes the lead's connection: connecting → bridged → done, or outcome when
// the salesperson is asked what came of the call (outcome.go). Each state is a function
// from an event to the next state and an action. The events come on one channel from
// goroutines that hold no state of the flow (legs.go: a leg's INVITE, keys and hang-up;
// a prompt's play; a timer) and from the flow's context (the lead canceled, the node
// stopping); the owner takes them one at a time and carries out the actions (loop.go,
// ring.go, connect.go). So of two keys 1 at once the one the owner reads first wins,
// with no lock or flag, and a finished flow has waited for every goroutine it started.
//
// It declares the ports it needs, each as small as its user here needs (ports.go):
// IntakeStore, FlowStore and LeadReader (together LeadStore), Caller and Leg, Speaker,
// Recorder, Archive, AbuseStore, ReportStore, DeliveryLog, and Devices for people whose
// softphones register (devices.go). The sip, store, api, webhook and metrics packages
// implement or consume them; dialer imports none of them, nor config (cmd copies
// configuration into Dealer). The only leadline package it imports is phone, for number
// normalisation.
package dialer
