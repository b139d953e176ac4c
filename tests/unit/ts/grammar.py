op_version_set = 8
import torch
from typing import List
# a comment line

class Color(Enum):
  RED = 1
  NAME = "x\t\"q\"\\"
  W = -0.5
class I(Interface):
  def f(self: __torch__.I,
    x: Tensor) -> Tensor:
    pass
class Hooked(Module):
  __parameters__ = ["w", ]
  __buffers__ = []
  __forward_pre_hooks__ = ["pre", ]
  __forward_hooks__ = ["post", ]
  w : Tensor
  __annotations__["0"] = __torch__.torch.nn.modules.linear.Linear
  padding : Final[Tuple[int, int]] = (1, 1)
  empty : Tuple[()]
  eps : Final[float] = 1.0000000000000001e-05
  def forward(self, x: Tensor, d: Dict[str, Tensor]) -> Tuple[Tensor, int]:
    a, = torch.split(x, 1)
    b, c, = (x, 2)
    e = f = -9223372036854775808
    n = 9223372036854775807
    y = x[:, -1] + x[..., 0] - x[::2] * x[0:2, 1:] / x[1:2:3]
    d["k"] = x
    self.w = (x)[0]
    z = a if b < c <= 3 and not e is not None or n not in [1, 2, ] else (x,)
    k = 1 << 2 | 3 ^ 4 & 5 >> 1
    k += 2
    k //= 3
    m = -x ** 2 // 3 % 5 @ ~k
    s = "abc" 'def' "\x41\101\n"
    t = {"a": 1, "b": [2., 0.10000000000000001], }
    u = ()
    while k < 10:
      k = k + 1
      if k == 3:
        continue
      elif k == 4:
        break
      elif k == 5:
        pass
      else:
        raise ValueError("bad")
    with torch.no_grad() as g:
      del a, b
    assert k, "msg"
    assert k
    for i, j in zip(x, y):
      pass
    return (x, (lambda_)(1, 2, ))
def free(a: int=1, b: Optional[Tensor]=None) -> NoneType:
  def __forked_function() -> int:
    return 2
  fut = fork(__forked_function)
  return
