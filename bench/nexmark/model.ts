// The Nexmark records: people, auctions and bids (Beam's model, with nexmark-flink's channel and url on bids). One
// flat discriminated union, `type` first, so that a stream of events needs no wrapper object per record.

export const PERSON = 0;
export const AUCTION = 1;
export const BID = 2;

export interface Person {
  readonly type: typeof PERSON;
  readonly id: number;
  readonly name: string;
  readonly emailAddress: string;
  readonly creditCard: string;
  readonly city: string;
  readonly state: string;
  /** Event time, epoch ms. */
  readonly dateTime: number;
  readonly extra: string;
}

export interface Auction {
  readonly type: typeof AUCTION;
  readonly id: number;
  readonly itemName: string;
  readonly description: string;
  readonly initialBid: number;
  readonly reserve: number;
  readonly dateTime: number;
  readonly expires: number;
  readonly seller: number;
  readonly category: number;
  readonly extra: string;
}

export interface Bid {
  readonly type: typeof BID;
  readonly auction: number;
  readonly bidder: number;
  readonly price: number;
  readonly channel: string;
  readonly url: string;
  readonly dateTime: number;
  readonly extra: string;
}

export type NexmarkEvent = Person | Auction | Bid;

export const isPerson = (e: NexmarkEvent): e is Person => e.type === PERSON;
export const isAuction = (e: NexmarkEvent): e is Auction => e.type === AUCTION;
export const isBid = (e: NexmarkEvent): e is Bid => e.type === BID;
