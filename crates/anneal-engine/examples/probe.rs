//! Timing probe: train a program on gzipped IDX MNIST files. Not part of the product.
use std::io::Read;

fn idx(path: &str, header: usize) -> Vec<u8> {
    let mut d = flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap());
    let mut v = Vec::new();
    d.read_to_end(&mut v).unwrap();
    v[header..].to_vec()
}

struct P;
impl anneal_engine::Observer for P {
    fn epoch_end(&mut self, s: &anneal_engine::EpochStats) {
        eprintln!(
            "epoch {} loss {:.4} acc {:.4} {:.0} samples/s {:.1}s",
            s.epoch, s.loss, s.accuracy, s.samples_per_sec, s.seconds
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let threads: usize = args.get(2).map(|s| s.parse().unwrap()).unwrap_or(2);
    anneal_engine::set_threads(threads).unwrap();
    let src = std::fs::read_to_string(&args[1]).unwrap();
    let program = anneal_spec::Program::parse(&args[1], &src).unwrap();
    let d = "/work/shared/datasets/mnist";
    let norm = anneal_engine::Normalization::fit(program.input.normalize, &[]);
    let xtr = anneal_engine::preprocess(
        &idx(&format!("{d}/train10k-images-idx3-ubyte.gz"), 16),
        &norm,
    );
    let ytr: Vec<u32> = idx(&format!("{d}/train10k-labels-idx1-ubyte.gz"), 8)
        .iter()
        .map(|&b| b as u32)
        .collect();
    let xte = anneal_engine::preprocess(&idx(&format!("{d}/t10k-images-idx3-ubyte.gz"), 16), &norm);
    let yte = idx(&format!("{d}/t10k-labels-idx1-ubyte.gz"), 8);
    let t = std::time::Instant::now();
    let trained = anneal_engine::train(
        &program,
        &anneal_engine::Examples { x: &xtr, y: &ytr },
        &mut P,
    )
    .unwrap();
    let tt = t.elapsed().as_secs_f64();
    let model = anneal_engine::Model::new(&program, &trained.weights).unwrap();
    let t2 = std::time::Instant::now();
    let p = model.predict(&xte).unwrap();
    let correct = p
        .chunks(10)
        .zip(&yte)
        .filter(|(p, y)| {
            let am = p
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .unwrap()
                .0;
            am == **y as usize
        })
        .count();
    eprintln!(
        "train {tt:.1}s eval {:.2}s accuracy {:.4}",
        t2.elapsed().as_secs_f64(),
        correct as f64 / 10000.0
    );
    let h = trained.weights.iter().fold(0u64, |h, t| {
        t.data
            .iter()
            .fold(h, |h, v| h.rotate_left(5) ^ v.to_bits() as u64)
    });
    eprintln!("weights hash {h:x}");
}
