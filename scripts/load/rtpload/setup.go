package main

import (
	"encoding/binary"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"strconv"
)

// writePrompts writes the prompts Leadline's "files" engine reads: short 8 kHz tones, so
// that no speech synthesis runs during the load.
func writePrompts(dir string) error {
	for name, d := range map[string]float64{"whisper": 1.0, "connecting": 0.4, "customer_unreachable": 0.4, "recording_notice": 0.4} {
		n := int(8000 * d)
		b := make([]byte, 44+2*n)
		copy(b, "RIFF")
		binary.LittleEndian.PutUint32(b[4:], uint32(36+2*n))
		copy(b[8:], "WAVEfmt ")
		binary.LittleEndian.PutUint32(b[16:], 16)
		binary.LittleEndian.PutUint16(b[20:], 1) // PCM
		binary.LittleEndian.PutUint16(b[22:], 1) // mono
		binary.LittleEndian.PutUint32(b[24:], 8000)
		binary.LittleEndian.PutUint32(b[28:], 16000)
		binary.LittleEndian.PutUint16(b[32:], 2)
		binary.LittleEndian.PutUint16(b[34:], 16)
		copy(b[36:], "data")
		binary.LittleEndian.PutUint32(b[40:], uint32(2*n))
		for i := range n {
			v := int16(3000 * math.Sin(2*math.Pi*440*float64(i)/8000))
			binary.LittleEndian.PutUint16(b[44+2*i:], uint16(v))
		}
		if err := os.WriteFile(filepath.Join(dir, name+".wav"), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// freePorts prints n even ports free on 127.0.0.1 for UDP and TCP, with the next port
// free for UDP too (RTP and RTCP pairs, sipp's media).
func freePorts(n int) error {
	var held []func()
	defer func() {
		for _, f := range held {
			f()
		}
	}()
	for found := 0; found < n; {
		u, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return err
		}
		port := u.LocalAddr().(*net.UDPAddr).Port
		held = append(held, func() { u.Close() })
		if port%2 == 1 || port > 60000 {
			continue
		}
		t, err := net.Listen("tcp4", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue
		}
		held = append(held, func() { t.Close() })
		u2, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port + 1})
		if err != nil {
			continue
		}
		held = append(held, func() { u2.Close() })
		fmt.Println(port)
		found++
	}
	return nil
}
