class Ctrl(Module):
  __parameters__ = []
  __buffers__ = ["buf", ]
  buf : Tensor
  training : bool
  _is_full_backward_hook : NoneType
  lin : __torch__.torch.nn.modules.linear.Linear
  seq : __torch__.torch.nn.modules.container.Sequential
  n : Final[int] = 3
  def forward(self: __torch__.Ctrl,
    x: Tensor,
    flag: bool,
    y: Optional[Tensor]=None,
    cfg: Optional[Dict[str, int]]=None) -> Tuple[Tensor, __torch__.Pt]:
    if flag:
      lin = self.lin
      x0 = (lin).forward(x, )
    else:
      if bool(torch.gt(torch.sum(x), 3)):
        _0 = torch.__not__(flag)
      else:
        _0 = False
      if _0:
        _1 = True
      else:
        _1 = torch.ne(torch.dim(x), 2)
      if _1:
        x1 = torch.mul(x, 2.)
      else:
        _2 = torch.floor_divide(torch.neg(torch.pow(x, 2)), 3)
        x1 = torch.remainder(_2, 5)
      x0 = x1
    x2 = x0
    for i in range(3):
      x2 = torch.add(x2, i)
    x3 = x2
    k = 0
    _3 = True
    while _3:
      x4 = torch.tanh(x3)
      k0 = torch.add(k, 1)
      _3, x3, k = torch.lt(k0, 2), x4, k0
    if torch.__isnot__(cfg, None):
      cfg0 = unchecked_cast(Dict[str, int], cfg)
      torch._set_item(cfg0, "z", 2)
    else:
      pass
    if torch.__isnot__(y, None):
      y1 = unchecked_cast(Tensor, y)
      buf = self.buf
      y0 : Optional[Tensor] = torch.add(y1, torch.to(buf, 7))
    else:
      y0 = y
    a = __torch__.Acc.__new__(__torch__.Acc)
    _4 = (a).__init__(1.5, )
    l = annotate(List[Tensor], [])
    _5 = [x3, x3]
    for _6 in range(torch.len(_5)):
      t = _5[_6]
      _7 = torch.select(torch.slice(t), 1, -1)
      _8 = torch.append(l, _7)
    if torch.gt(torch.len(l), 1):
      z = torch.select(x3, -1, 0)
    else:
      z = torch.slice(x3, 0, None, None, 2)
    if torch.lt(torch.size(x3, 0), 0):
      ops.prim.RaiseException("neg", "builtins.ValueError")
    else:
      pass
    if torch.ge(k, 0):
      pass
    else:
      ops.prim.RaiseException("AssertionError: k neg")
    seq = self.seq
    x5 = (seq).forward(x3, )
    _9 = torch.add(torch.add(x5, torch.sum(z)), 11)
    _10 = torch.sub(torch.add(_9, 9223372036854775807), -9223372036854775807)
    _11 = (torch.add(_10, -inf), __torch__.Pt(x5, y0))
    return _11
class Pt(NamedTuple):
  x : Tensor
  y : Optional[Tensor]
class Acc:
  scale : float
  items : List[Tensor]
  def __init__(self: __torch__.Acc,
    scale: float) -> NoneType:
    self.scale = scale
    self.items = annotate(List[Tensor], [])
    return None
  def total(self: __torch__.Acc) -> int:
    items = self.items
    return torch.len(items)
