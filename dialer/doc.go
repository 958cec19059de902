// Package dialer is Leadline's domain: leads, attempts and the per-lead flow that rings
// salespeople, whispers the lead, waits for the key 1, calls the customer and bridges the
// two, falling through the dealer's steps to the owner; and the dealer's rules around it:
// opening and calling hours (hours.go, schedule.go), customer retries, further rounds and
// round robin steps (rounds.go), duplicate posts joining an open lead, and limits on who
// may be called (abuse.go). It also says which change of a lead is which event for the
// dealer's CRM (events.go: Status.Event, CreatedEvents) and names the records of their
// delivery that the store keeps and the API shows.
//
// It declares the ports it needs, each as small as the flow uses: LeadStore, Caller and
// Leg, Speaker, Recorder, DeliveryLog, and Devices for people whose softphones register
// (devices.go). The sip, store, api, webhook and metrics packages implement or consume
// them; dialer imports none of them, nor config (cmd copies configuration into Dealer).
// The only leadline package it imports is phone, for number normalisation.
package dialer
