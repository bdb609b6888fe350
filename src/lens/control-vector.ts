/**
 * llama.cpp's control-vector GGUF files (what `llama-cli --control-vector` loads and repeng's
 * `export_gguf` writes): `general.architecture = "controlvector"`, `controlvector.model_hint`,
 * `controlvector.layer_count`, and one F32 tensor `direction.<L>` of n_embd values per steered layer.
 * Layer L is added to the output of block L (blocks.L.hook_resid_post); llama.cpp rejects layer 0.
 * Read with the rules of llama.cpp's common_control_vector_load, so files it refuses are refused here.
 */
import { BadArgumentError } from "../engine";
import { GGMLType, GGUFError, gguf, metaString, readGGUFHeader, readTensorFloats, writeGGUFFile } from "../gguf";

export const CONTROL_VECTOR_ARCH = "controlvector";

export interface ControlVectorFile {
  modelHint: string;
  /** layer -> direction (n_embd values), layers ascending */
  directions: Map<number, Float32Array>;
}

/** Writes `directions` as a llama.cpp control vector; every direction must have the same length. */
export function writeControlVector(path: string, file: ControlVectorFile): void {
  const layers = [...file.directions.keys()].sort((a, b) => a - b);
  if (layers.length === 0) throw new BadArgumentError("A control vector needs at least one layer's direction.");
  if (layers.includes(0)) {
    throw new BadArgumentError("llama.cpp control vectors cannot steer layer 0 (it rejects direction.0): make the vector without layer 0, e.g. contrast(model, pairs, { layers: [1, 2, ...] }).");
  }
  const nEmbd = file.directions.get(layers[0])!.length;
  for (const l of layers) {
    if (!Number.isInteger(l) || l < 0) throw new BadArgumentError(`Layer ${l} is not a valid layer index.`);
    if (file.directions.get(l)!.length !== nEmbd) throw new BadArgumentError(`direction ${l} has ${file.directions.get(l)!.length} values, direction ${layers[0]} has ${nEmbd}: all layers need the same n_embd.`);
  }
  writeGGUFFile(path, {
    metadata: [
      ["general.architecture", gguf.str(CONTROL_VECTOR_ARCH)],
      [`${CONTROL_VECTOR_ARCH}.model_hint`, gguf.str(file.modelHint)],
      [`${CONTROL_VECTOR_ARCH}.layer_count`, gguf.u32(layers.length)],
    ],
    tensors: layers.map((l) => ({ name: `direction.${l}`, dims: [nEmbd], type: GGMLType.F32, data: file.directions.get(l)! })),
  });
}

/**
 * Reads a control-vector file (GGUF forbids two tensors of one name, so a layer has one direction);
 * controlvector.layer_count is not needed (llama.cpp does not read it either). A GGUF
 * file that is not a control vector (e.g. a model) fails naming what it is.
 */
export function readControlVector(path: string): ControlVectorFile {
  let header;
  try {
    header = readGGUFHeader(path);
  } catch (e) {
    if (e instanceof GGUFError) throw new BadArgumentError(`${path} is not a readable control vector: ${e.message}.`);
    throw e;
  }
  const arch = metaString(header, "general.architecture");
  if (arch !== CONTROL_VECTOR_ARCH) {
    throw new BadArgumentError(
      `${path} is not a control vector: its general.architecture is ${arch === undefined ? "missing" : JSON.stringify(arch)}, a control vector's is "${CONTROL_VECTOR_ARCH}"` +
        `${arch && arch !== CONTROL_VECTOR_ARCH ? " (this looks like a model: load it with steer.load)" : ""}. Give a file written by SteeringVector.save, repeng's export_gguf or llama.cpp's cvector-generator.`,
    );
  }
  const directions = new Map<number, Float32Array>();
  let nEmbd = -1;
  for (const t of header.tensors) {
    const m = /^direction\.(\d+)$/.exec(t.name);
    const bad = (why: string) => new BadArgumentError(`${path}: tensor ${t.name} ${why}; llama.cpp would refuse this control vector too.`);
    if (!m) throw bad(`is not named direction.<layer>`);
    const layer = Number(m[1]);
    if (layer === 0) throw bad("steers layer 0, which llama.cpp never steers");
    if (t.type !== GGMLType.F32) throw bad(`is ${t.typeName}, not F32`);
    if (t.dims.slice(1).some((d) => d !== 1)) throw bad(`has shape [${t.dims.join(", ")}], not one dimension`);
    const values = readTensorFloats(path, header, t.name);
    if (nEmbd === -1) nEmbd = values.length;
    else if (values.length !== nEmbd) throw bad(`has ${values.length} values where earlier directions have ${nEmbd}`);
    directions.set(layer, values);
  }
  if (directions.size === 0) throw new BadArgumentError(`${path} is a control vector with no direction tensors: there is nothing to steer with.`);
  return {
    modelHint: metaString(header, `${CONTROL_VECTOR_ARCH}.model_hint`) ?? "",
    directions: new Map([...directions].sort((a, b) => a[0] - b[0])),
  };
}
