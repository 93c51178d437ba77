/** A Modbus source of `tags` tags, 1,000 per device: the large file of the config bench and tests. */
export function bigConfig(tags: number): string {
  const perDevice = 1000;
  const lines = ['gateway: { id: bench }', 'sources:', '  - type: modbus', '    id: big', '    connection: { transport: tcp, host: 127.0.0.1, port: 1502 }', '    devices:'];
  for (let d = 0; d * perDevice < tags; d++) {
    lines.push(`      - name: dev${d}`, `        unit: ${d % 256}`, '        tags:');
    for (let t = 0; t < perDevice && d * perDevice + t < tags; t++) {
      lines.push(`          - { name: t${t}, address: ${t * 2}, area: holding, type: float32, deadband: 0.5 }`);
    }
  }
  return `${lines.join('\n')}\n`;
}
