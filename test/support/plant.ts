/**
 * The smallest plant a process test needs, as config YAML: a Modbus simulator `sim` on `port`
 * with one float32 sine at 40001, and a Modbus source `press` polling it every `interval` as the
 * tag `temperature`. Tests add their own gateway, sinks, health and log sections.
 */
export function simulatedPress(port: number, interval: string): string {
  return `simulators:
  - type: modbus
    id: sim
    port: ${port}
    devices:
      - unit: 1
        registers:
          - { address: "40001", type: float32, value: { kind: sine, amplitude: 5, offset: 80, period: 10s } }
sources:
  - type: modbus
    id: press
    connection: { transport: tcp, host: 127.0.0.1, port: ${port} }
    interval: ${interval}
    devices:
      - tags:
          - { name: temperature, address: "40001", type: float32 }
`;
}
