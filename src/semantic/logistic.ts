/**
 * L2-regularised logistic regression fitted by Newton's method (iteratively reweighted
 * least squares): a handful of features, thousands of rows, converges in ~10 iterations.
 */
export interface LogisticModel {
  /** Per-feature means and standard deviations: inputs are standardised before the weights apply. */
  means: number[];
  scales: number[];
  weights: number[];
  bias: number;
}

export function predict(model: LogisticModel, features: readonly number[]): number {
  let z = model.bias;
  for (let index = 0; index < model.weights.length; index++) {
    const value = ((features[index] ?? 0) - (model.means[index] ?? 0)) / (model.scales[index] ?? 1);
    z += (model.weights[index] ?? 0) * value;
  }
  return 1 / (1 + Math.exp(-z));
}

export interface FitOptions {
  /** L2 penalty on the weights (not the bias). @default 1 */
  l2?: number;
  /** @default 50 */
  maxIterations?: number;
}

export function fitLogistic(
  rows: readonly (readonly number[])[],
  labels: readonly boolean[],
  options: FitOptions = {},
): LogisticModel {
  const count = rows.length;
  const width = rows[0]?.length ?? 0;
  const means = new Array<number>(width).fill(0);
  const scales = new Array<number>(width).fill(0);
  for (const row of rows)
    for (let j = 0; j < width; j++) means[j] = (means[j] as number) + (row[j] as number) / count;
  for (const row of rows) {
    for (let j = 0; j < width; j++) {
      const delta = (row[j] as number) - (means[j] as number);
      scales[j] = (scales[j] as number) + (delta * delta) / count;
    }
  }
  for (let j = 0; j < width; j++) scales[j] = Math.sqrt(scales[j] as number) || 1;
  const x = rows.map((row) => [
    1,
    ...row.map((value, j) => (value - (means[j] as number)) / (scales[j] as number)),
  ]);
  const size = width + 1;
  let beta = new Array<number>(size).fill(0);
  const l2 = options.l2 ?? 1;
  for (let iteration = 0; iteration < (options.maxIterations ?? 50); iteration++) {
    const gradient = new Array<number>(size).fill(0);
    const hessian = Array.from({ length: size }, () => new Array<number>(size).fill(0));
    for (let i = 0; i < count; i++) {
      const xi = x[i] as number[];
      let z = 0;
      for (let j = 0; j < size; j++) z += (beta[j] as number) * (xi[j] as number);
      const p = 1 / (1 + Math.exp(-z));
      const residual = (labels[i] ? 1 : 0) - p;
      const weight = Math.max(p * (1 - p), 1e-9);
      for (let j = 0; j < size; j++) {
        gradient[j] = (gradient[j] as number) + residual * (xi[j] as number);
        const rowH = hessian[j] as number[];
        for (let k = 0; k <= j; k++)
          rowH[k] = (rowH[k] as number) + weight * (xi[j] as number) * (xi[k] as number);
      }
    }
    for (let j = 0; j < size; j++) {
      for (let k = j + 1; k < size; k++)
        (hessian[j] as number[])[k] = (hessian[k] as number[])[j] as number;
      if (j > 0) {
        gradient[j] = (gradient[j] as number) - l2 * (beta[j] as number);
        (hessian[j] as number[])[j] = ((hessian[j] as number[])[j] as number) + l2;
      }
    }
    const step = solve(hessian, gradient);
    beta = beta.map((value, j) => value + (step[j] as number));
    if (Math.max(...step.map(Math.abs)) < 1e-8) break;
  }
  return { means, scales, weights: beta.slice(1), bias: beta[0] as number };
}

/** Solves A x = b by Gaussian elimination with partial pivoting (A is small and symmetric positive definite). */
function solve(matrix: number[][], vector: number[]): number[] {
  const n = vector.length;
  const a = matrix.map((row, i) => [...row, vector[i] as number]);
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let row = col + 1; row < n; row++) {
      if (
        Math.abs((a[row] as number[])[col] as number) >
        Math.abs((a[pivot] as number[])[col] as number)
      )
        pivot = row;
    }
    [a[col], a[pivot]] = [a[pivot] as number[], a[col] as number[]];
    const pivotRow = a[col] as number[];
    const divisor = (pivotRow[col] as number) || 1e-12;
    for (let row = col + 1; row < n; row++) {
      const current = a[row] as number[];
      const factor = (current[col] as number) / divisor;
      for (let k = col; k <= n; k++)
        current[k] = (current[k] as number) - factor * (pivotRow[k] as number);
    }
  }
  const result = new Array<number>(n).fill(0);
  for (let row = n - 1; row >= 0; row--) {
    const current = a[row] as number[];
    let sum = current[n] as number;
    for (let k = row + 1; k < n; k++) sum -= (current[k] as number) * (result[k] as number);
    result[row] = sum / ((current[row] as number) || 1e-12);
  }
  return result;
}
