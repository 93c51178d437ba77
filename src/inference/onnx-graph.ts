import protobuf from 'protobufjs';

/**
 * Writes ONNX model files with protobufjs from a hand-kept subset of onnx.proto (field numbers
 * as in github.com/onnx/onnx/blob/main/onnx/onnx.proto). Used by the reference model build
 * scripts in models/ and by tests that need a model of a given signature; never at run time.
 */
const ONNX_PROTO = `
syntax = "proto3";
package onnx;
message AttributeProto {
  enum AttributeType { UNDEFINED = 0; FLOAT = 1; INT = 2; STRING = 3; TENSOR = 4; FLOATS = 6; INTS = 7; }
  string name = 1;
  float f = 2;
  int64 i = 3;
  bytes s = 4;
  TensorProto t = 5;
  repeated float floats = 7;
  repeated int64 ints = 8;
  AttributeType type = 20;
}
message ValueInfoProto { string name = 1; TypeProto type = 2; string doc_string = 3; }
message NodeProto {
  repeated string input = 1;
  repeated string output = 2;
  string name = 3;
  string op_type = 4;
  repeated AttributeProto attribute = 5;
  string doc_string = 6;
  string domain = 7;
}
message OperatorSetIdProto { string domain = 1; int64 version = 2; }
message StringStringEntryProto { string key = 1; string value = 2; }
message ModelProto {
  int64 ir_version = 1;
  string producer_name = 2;
  string producer_version = 3;
  string domain = 4;
  int64 model_version = 5;
  string doc_string = 6;
  GraphProto graph = 7;
  repeated OperatorSetIdProto opset_import = 8;
  repeated StringStringEntryProto metadata_props = 14;
}
message GraphProto {
  repeated NodeProto node = 1;
  string name = 2;
  repeated TensorProto initializer = 5;
  string doc_string = 10;
  repeated ValueInfoProto input = 11;
  repeated ValueInfoProto output = 12;
}
message TensorProto {
  repeated int64 dims = 1;
  int32 data_type = 2;
  repeated float float_data = 4;
  repeated int64 int64_data = 7;
  string name = 8;
  bytes raw_data = 9;
}
message TensorShapeProto {
  message Dimension { oneof value { int64 dim_value = 1; string dim_param = 2; } }
  repeated Dimension dim = 1;
}
message TypeProto {
  message Tensor { int32 elem_type = 1; TensorShapeProto shape = 2; }
  oneof value { Tensor tensor_type = 1; }
}
`;

/** TensorProto.DataType values we use. */
export const ELEM = { float: 1, int32: 6, int64: 7, double: 11 } as const;
export type ElemName = keyof typeof ELEM;

/** A dimension: a fixed size, or a name for a dynamic one (e.g. 'batch'). */
export type Dim = number | string;

export interface ValueInfo {
  name: string;
  elem: ElemName;
  shape: Dim[];
}

export interface Initializer {
  name: string;
  dims: number[];
  /** float32 values, or int64 values when `int64` is set */
  data: ArrayLike<number>;
  int64?: boolean;
}

export type AttrValue = number | number[] | string | { ints: number[] } | { float: number };

export interface NodeSpec {
  op: string;
  inputs: string[];
  outputs: string[];
  name?: string;
  attrs?: Record<string, AttrValue>;
}

export interface GraphSpec {
  name: string;
  doc?: string;
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  initializers: Initializer[];
  nodes: NodeSpec[];
  opset?: number;
  metadata?: Record<string, string>;
}

let modelType: protobuf.Type | undefined;
function modelProto(): protobuf.Type {
  modelType ??= protobuf.parse(ONNX_PROTO, { keepCase: true }).root.lookupType('onnx.ModelProto');
  return modelType;
}

function valueInfo(v: ValueInfo): Record<string, unknown> {
  return {
    name: v.name,
    type: {
      tensor_type: {
        elem_type: ELEM[v.elem],
        shape: { dim: v.shape.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) },
      },
    },
  };
}

function attribute(name: string, v: AttrValue): Record<string, unknown> {
  if (typeof v === 'string') return { name, type: 3, s: Buffer.from(v) };
  if (Array.isArray(v)) return { name, type: 7, ints: v };
  if (typeof v === 'number') return { name, type: 2, i: v };
  if ('ints' in v) return { name, type: 7, ints: v.ints };
  return { name, type: 1, f: v.float };
}

function initializer(t: Initializer): Record<string, unknown> {
  if (t.int64) return { name: t.name, dims: t.dims, data_type: ELEM.int64, int64_data: Array.from(t.data) };
  const f = Float32Array.from(t.data);
  // raw_data is little-endian float32, the compact encoding runtimes read directly
  return { name: t.name, dims: t.dims, data_type: ELEM.float, raw_data: Buffer.from(f.buffer, f.byteOffset, f.byteLength) };
}

/** Serialises a graph as an ONNX model (IR version 8). */
export function encodeModel(g: GraphSpec): Uint8Array {
  const T = modelProto();
  const msg = {
    ir_version: 8,
    producer_name: 'fieldgate',
    producer_version: '0.1.0',
    opset_import: [{ domain: '', version: g.opset ?? 17 }],
    doc_string: g.doc ?? '',
    metadata_props: Object.entries(g.metadata ?? {}).map(([key, value]) => ({ key, value })),
    graph: {
      name: g.name,
      input: g.inputs.map(valueInfo),
      output: g.outputs.map(valueInfo),
      initializer: g.initializers.map(initializer),
      node: g.nodes.map((n, i) => ({
        name: n.name ?? `${n.op.toLowerCase()}_${i}`,
        op_type: n.op,
        input: n.inputs,
        output: n.outputs,
        attribute: Object.entries(n.attrs ?? {}).map(([k, v]) => attribute(k, v)),
      })),
    },
  };
  const err = T.verify(msg);
  if (err) throw new Error(`onnx-graph: ${err}`);
  return T.encode(T.fromObject(msg)).finish();
}
