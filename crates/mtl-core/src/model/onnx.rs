//! The model's evaluation forward as ONNX nodes: every layer kind, architecture and head
//! link computes what [`Model::forward`] computes in [`Mode::Eval`](super::Mode::Eval)
//! (dropout is the identity). The graph around it (standardising the input, predictions) is
//! [`crate::export::onnx`]'s.

use super::layers::{Act, Layer};
use super::{Model, Param};
use crate::experiment::{Shape, Take};
use crate::export::onnx::{Graph, Value, attr_float, attr_int, attr_ints, dim};

/// What each head reads, as graph values (see [`super::Rep`]).
pub(super) enum OnnxRep {
    /// One representation for every head.
    One(Value),
    /// One per task.
    PerTask(Vec<Value>),
}

impl OnnxRep {
    /// Task `k`'s representation.
    fn task(&self, k: usize) -> &Value {
        match self {
            Self::One(v) => v,
            Self::PerTask(v) => &v[k.min(v.len().saturating_sub(1))],
        }
    }
}

/// Parameter `i` as an initializer of its export name; returns the name.
pub(super) fn param(g: &mut Graph, params: &[Param], i: usize) -> candle_core::Result<String> {
    let p = &params[i];
    let values = p.var.flatten_all()?.to_vec1::<f32>()?;
    Ok(g.weight(&p.name, p.var.dims(), &values))
}

/// The scope of a layer from its weight's name: `shared.0` for `shared.0.weight`.
pub(super) fn scope_of(params: &[Param], weight: usize) -> String {
    let name = &params[weight].name;
    name.strip_suffix(".weight").unwrap_or(name).to_owned()
}

/// Rows as vectors: an image row is flattened (`Flatten`, axis 1), a vector passes.
pub(super) fn flatten(g: &mut Graph, h: Value, scope: &str) -> Value {
    match h.shape {
        Shape::Flat(_) => h,
        Shape::Image(..) => Value {
            name: g.op(scope, "Flatten", &[&h.name], vec![attr_int("axis", 1)]),
            shape: Shape::Flat(h.shape.size()),
        },
    }
}

/// Rows as images `[c, h, w]`: a vector row is reshaped, an image passes.
fn to_image(g: &mut Graph, h: Value, (c, hh, w): (usize, usize, usize), scope: &str) -> Value {
    match h.shape {
        Shape::Image(..) => h,
        Shape::Flat(_) => {
            let shape = g.ints(scope, &[0, dim(c), dim(hh), dim(w)], false);
            Value {
                name: g.op(scope, "Reshape", &[&h.name, &shape], vec![]),
                shape: Shape::Image(c, hh, w),
            }
        }
    }
}

/// `h·Wᵀ + b` (`Gemm`, transB) for the `Linear` parameters `(w, b)`; `h` is a vector row.
pub(super) fn gemm(
    g: &mut Graph,
    params: &[Param],
    h: &Value,
    (w, b): (usize, usize),
) -> candle_core::Result<Value> {
    let scope = scope_of(params, w);
    let out = params[w].var.dims().first().copied().unwrap_or(0);
    let wn = param(g, params, w)?;
    let bn = param(g, params, b)?;
    Ok(Value {
        name: g.op(
            &scope,
            "Gemm",
            &[&h.name, &wn, &bn],
            vec![attr_int("transB", 1)],
        ),
        shape: Shape::Flat(out),
    })
}

/// The int64 shape `[-1, row…]` of a batch of rows of `shape`.
pub(super) fn batch_shape(shape: Shape) -> Vec<i64> {
    match shape {
        Shape::Flat(n) => vec![-1, dim(n)],
        Shape::Image(c, h, w) => vec![-1, dim(c), dim(h), dim(w)],
    }
}

/// Softmax over `axis`.
pub(super) fn softmax(g: &mut Graph, h: &str, axis: i64, scope: &str) -> String {
    g.op(scope, "Softmax", &[h], vec![attr_int("axis", axis)])
}

/// Runs `layers` on `h`, layer `i` in scope `<prefix>.<i>`.
pub(super) fn run(
    g: &mut Graph,
    params: &[Param],
    layers: &[Layer],
    mut h: Value,
    prefix: &str,
) -> candle_core::Result<Value> {
    for (i, layer) in layers.iter().enumerate() {
        h = apply(g, params, layer, h, &format!("{prefix}.{i}"))?;
    }
    Ok(h)
}

/// One layer on `h` in `scope`.
pub(super) fn apply(
    g: &mut Graph,
    params: &[Param],
    layer: &Layer,
    h: Value,
    scope: &str,
) -> candle_core::Result<Value> {
    let elementwise = |g: &mut Graph, op: &str, h: Value| Value {
        name: g.op(scope, op, &[&h.name], vec![]),
        shape: h.shape,
    };
    Ok(match layer {
        Layer::Linear { weight, bias } => {
            let h = flatten(g, h, scope);
            gemm(g, params, &h, (*weight, *bias))?
        }
        Layer::Flatten => flatten(g, h, scope),
        Layer::Conv {
            weight,
            bias,
            stride,
            padding,
            input,
        } => {
            let h = to_image(g, h, *input, scope);
            let dims = params[*weight].var.dims().to_vec();
            let (out_c, k) = (dims[0], dims[dims.len() - 1]);
            let (_, ih, iw) = *input;
            let side = |n: usize| (n + 2 * padding).saturating_sub(k) / (*stride).max(1) + 1;
            let wn = param(g, params, *weight)?;
            let bn = param(g, params, *bias)?;
            let (k, s, p) = (dim(k), dim(*stride), dim(*padding));
            Value {
                name: g.op(
                    scope,
                    "Conv",
                    &[&h.name, &wn, &bn],
                    vec![
                        attr_ints("dilations", &[1, 1]),
                        attr_int("group", 1),
                        attr_ints("kernel_shape", &[k, k]),
                        attr_ints("pads", &[p, p, p, p]),
                        attr_ints("strides", &[s, s]),
                    ],
                ),
                shape: Shape::Image(out_c, side(ih), side(iw)),
            }
        }
        Layer::Pool { kernel, input } => {
            let h = to_image(g, h, *input, scope);
            let (c, ih, iw) = *input;
            let k = dim(*kernel);
            Value {
                name: g.op(
                    scope,
                    "MaxPool",
                    &[&h.name],
                    vec![
                        attr_ints("kernel_shape", &[k, k]),
                        attr_ints("strides", &[k, k]),
                    ],
                ),
                shape: Shape::Image(c, ih / kernel, iw / kernel),
            }
        }
        Layer::Act(Act::Relu) => elementwise(g, "Relu", h),
        Layer::Act(Act::Tanh) => elementwise(g, "Tanh", h),
        Layer::Act(Act::Sigmoid) => elementwise(g, "Sigmoid", h),
        Layer::Act(Act::Gelu) => gelu(g, &h, scope),
        Layer::Dropout(_) => h,
        Layer::Norm { weight, bias, eps } => {
            let wn = param(g, params, *weight)?;
            let bn = param(g, params, *bias)?;
            Value {
                name: g.op(
                    scope,
                    "LayerNormalization",
                    &[&h.name, &wn, &bn],
                    vec![attr_int("axis", -1), attr_float("epsilon", *eps as f32)],
                ),
                shape: h.shape,
            }
        }
    })
}

/// GELU, the tanh approximation 0.5x(1 + tanh(√(2/π)(x + 0.044715x³))), from primitives (the
/// `Gelu` operator needs opset 20).
fn gelu(g: &mut Graph, h: &Value, scope: &str) -> Value {
    let x = h.name.as_str();
    let x2 = g.op(scope, "Mul", &[x, x], vec![]);
    let x3 = g.op(scope, "Mul", &[&x2, x], vec![]);
    let c = g.scalar(scope, 0.044_715);
    let cx3 = g.op(scope, "Mul", &[&x3, &c], vec![]);
    let inner = g.op(scope, "Add", &[x, &cx3], vec![]);
    let root = g.scalar(scope, (2.0 / std::f32::consts::PI).sqrt());
    let scaled = g.op(scope, "Mul", &[&inner, &root], vec![]);
    let t = g.op(scope, "Tanh", &[&scaled], vec![]);
    let one = g.scalar(scope, 1.0);
    let t1 = g.op(scope, "Add", &[&t, &one], vec![]);
    let xt = g.op(scope, "Mul", &[x, &t1], vec![]);
    let half = g.scalar(scope, 0.5);
    Value {
        name: g.op(scope, "Mul", &[&xt, &half], vec![]),
        shape: h.shape,
    }
}

impl Model {
    /// Adds the evaluation forward to `g`, reading the standardised input `x` (`[N, input]`);
    /// returns each task's raw output `[N, out]`, in task order.
    pub(crate) fn onnx_forward(&self, g: &mut Graph, x: &Value) -> candle_core::Result<Vec<Value>> {
        let rep = self.body.onnx(&self.params, g, x)?;
        let k = self.heads.len();
        let mut outs: Vec<Option<Value>> = vec![None; k];
        let mut hidden: Vec<Option<Value>> = vec![None; k];
        for &t in &self.order {
            let head = &self.heads[t];
            let prefix = &head.prefix;
            let mut input = flatten(g, rep.task(t).clone(), prefix);
            if !head.links.is_empty() {
                let scope = format!("{prefix}/links");
                let mut parts = vec![input.name.clone()];
                let mut width = input.shape.size();
                for link in &head.links {
                    let source = match link.take {
                        Take::Output => &outs[link.from],
                        Take::Hidden => &hidden[link.from],
                    };
                    let source = source.as_ref().ok_or_else(|| {
                        candle_core::Error::Msg("a linked head ran before its source".into())
                    })?;
                    let alpha = g.scalar(&scope, link.alpha as f32);
                    parts.push(g.op(&scope, "Mul", &[&source.name, &alpha], vec![]));
                    width += source.shape.size();
                }
                let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
                input = Value {
                    name: g.op(&scope, "Concat", &refs, vec![attr_int("axis", 1)]),
                    shape: Shape::Flat(width),
                };
            }
            let h = run(g, &self.params, &head.hidden, input, prefix)?;
            let h = flatten(g, h, prefix);
            outs[t] = Some(gemm(g, &self.params, &h, head.out)?);
            hidden[t] = Some(h);
        }
        outs.into_iter()
            .map(|o| o.ok_or_else(|| candle_core::Error::Msg("a head did not run".into())))
            .collect()
    }
}
