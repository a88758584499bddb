"""Graph container, normalisations, message passing, GNN layers, samplers."""
from .graph import Graph, GraphError, batch_graphs, bucket_size, make_graph, subgraph, to_undirected
from .layers import GATConv, GCNConv, GINConv, LAYERS, SAGEConv, layer_norm_kind
from .norm import NORMS, build_adjacency, edge_weights
from .ops import Adjacency, propagate, segment_softmax, spmm, to_dense
